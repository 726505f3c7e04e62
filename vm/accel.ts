// KVM or TCG. KVM is ~10x faster, but on some hosts (nested virtualisation without the right CPU
// features, as on the machine this was written on) a KVM guest hangs right after the kernel
// decompresses itself. So "auto" uses KVM only after a probe boot of the same kernel reached the
// guest's /init; the verdict is cached per machine + kernel so the probe costs its time once.
import { randomBytes } from 'node:crypto';
import { accessSync, constants, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { cpus, hostname, release as hostRelease } from 'node:os';
import { join } from 'node:path';
import { ConsoleScanner } from './console.js';
import type { KernelInfo } from './kernels.js';
import { vmCacheDir } from './paths.js';
import { startQemu, type Accel } from './qemu.js';

export type AccelRequest = 'auto' | Accel;

interface ProbeVerdict {
  ok: boolean;
  /** how long the probe boot took (to the marker, or until given up) */
  ms: number;
  at: string;
  detail?: string;
}

export interface AccelChoice {
  accel: Accel;
  /** why: "requested", "no /dev/kvm", "probe ok (cached)", ... */
  reason: string;
  probe?: ProbeVerdict & { cached: boolean };
}

// A working KVM reaches /init in 1-2 s; a broken one either errors out at once or hangs silently.
const PROBE_TIMEOUT_MS = 12_000;

export function parseAccelRequest(v: string | undefined, origin: string): AccelRequest | undefined {
  if (v === undefined || v === '') return undefined;
  if (v === 'auto' || v === 'kvm' || v === 'tcg') return v;
  throw new Error(`${origin}: expected auto, kvm or tcg, got "${v}"`);
}

function kvmUsable(): boolean {
  try {
    accessSync('/dev/kvm', constants.R_OK | constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/** Machine identity for the cache: the host kernel and CPU decide whether nested KVM works. */
function probeKey(kernel: KernelInfo): string {
  return [hostname(), hostRelease(), cpus()[0]?.model ?? 'cpu?', kernel.release].join(' | ');
}

function cacheFile(): string {
  return join(vmCacheDir(), 'kvm-probe.json');
}

function readCache(): Record<string, ProbeVerdict> {
  try {
    return JSON.parse(readFileSync(cacheFile(), 'utf8')) as Record<string, ProbeVerdict>;
  } catch {
    return {};
  }
}

function writeCache(key: string, v: ProbeVerdict): void {
  const all = readCache();
  all[key] = v;
  mkdirSync(vmCacheDir(), { recursive: true });
  const tmp = `${cacheFile()}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(all, null, 2) + '\n');
  renameSync(tmp, cacheFile());
}

/** Boot the kernel under KVM with kernmod.mode=probe and see whether /init gets to say so. */
export async function probeKvm(kernel: KernelInfo, initrd: string): Promise<ProbeVerdict> {
  const nonce = randomBytes(6).toString('hex');
  const started = Date.now();
  const scanner = new ConsoleScanner(nonce);
  const vm = startQemu(
    {
      vmlinuz: kernel.vmlinuz,
      initrd,
      cmdline: `console=ttyS0 quiet panic=-1 kernmod.mode=probe kernmod.nonce=${nonce}`,
      accel: 'kvm',
      memoryMiB: 512,
      cpus: 1,
      shares: [],
    },
    PROBE_TIMEOUT_MS / 1000 + 5,
  );
  let ok = false;
  let stderr = '';
  vm.child.stdout?.setEncoding('utf8').on('data', (d: string) => {
    if (scanner.push(d).some((e) => e.kind === 'probe-ok')) {
      ok = true;
      vm.kill(1000); // the guest powers off by itself; this only saves waiting for it
    }
  });
  vm.child.stderr?.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
    // qemu reports this and then sits paused; no need to wait out the timeout.
    if (/KVM internal error|emulation failure|failed to initialize kvm|Could not access KVM/i.test(stderr)) vm.kill(1000);
  });
  const timer = setTimeout(() => vm.kill(1000), PROBE_TIMEOUT_MS);
  await vm.exited;
  clearTimeout(timer);
  const ms = Date.now() - started;
  // qemu's own "terminating on signal" is noise; what the guest printed last says where it hung.
  const qemuErr = stderr
    .split('\n')
    .filter((l) => l.trim() && !/terminating on signal/.test(l))
    .slice(0, 2)
    .join('; ');
  const lastLine = scanner.log.trim().split('\n').at(-1) ?? '';
  const detail = ok
    ? undefined
    : `no sign of /init after ${ms} ms` + (qemuErr ? `; qemu: ${qemuErr}` : '') + (lastLine ? `; last console line: ${lastLine}` : '');
  return { ok, ms, at: new Date().toISOString(), ...(detail ? { detail } : {}) };
}

/** Resolve the accelerator for a run: explicit request, else env KERNMOD_VM_ACCEL, else auto-probe. */
export async function chooseAccel(kernel: KernelInfo, initrd: string, requested?: AccelRequest): Promise<AccelChoice> {
  const req = requested ?? parseAccelRequest(process.env['KERNMOD_VM_ACCEL'], 'KERNMOD_VM_ACCEL') ?? 'auto';
  if (req === 'tcg') return { accel: 'tcg', reason: 'requested' };
  if (req === 'kvm') {
    if (!kvmUsable()) throw new Error('KVM requested but /dev/kvm is missing or not accessible (add the user to group kvm?)');
    return { accel: 'kvm', reason: 'requested' };
  }
  if (!kvmUsable()) return { accel: 'tcg', reason: '/dev/kvm not usable' };
  const key = probeKey(kernel);
  const cached = readCache()[key];
  if (cached) {
    return {
      accel: cached.ok ? 'kvm' : 'tcg',
      reason: `KVM probe ${cached.ok ? 'ok' : 'failed'} (cached)`,
      probe: { ...cached, cached: true },
    };
  }
  const v = await probeKvm(kernel, initrd);
  writeCache(key, v);
  return { accel: v.ok ? 'kvm' : 'tcg', reason: `KVM probe ${v.ok ? 'ok' : 'failed'}`, probe: { ...v, cached: false } };
}
