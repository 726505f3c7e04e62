// runInVm(): boot a Debian kernel in qemu with the host's root file system mounted read-only,
// run one command as root in it, and collect its output, exit code and the guest's kernel log.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, isAbsolute, join, resolve } from 'node:path';
import { chooseAccel, type AccelRequest } from './accel.js';
import { ConsoleScanner } from './console.js';
import { buildRunScript } from './guest-script.js';
import { ensureInitramfs } from './initramfs.js';
import { DEFAULT_KERNEL_SPEC, resolveKernel, type KernelInfo } from './kernels.js';
import { provision } from './provision.js';
import { interruptedBy, startQemu, type Accel } from './qemu.js';
import { requireTool } from './tools.js';

export interface VmRunOptions {
  /** '6.1' (default) | '6.12' | an installed release | a vmlinuz path | a /lib/modules/<release> dir */
  kernel?: string;
  /** extra kernel command-line arguments, e.g. ['module.sig_enforce=1'] */
  append?: string[];
  /** whole-run limit including boot; default 15 min. On expiry the VM is killed and exitCode is 124. */
  timeoutMs?: number;
  memoryMiB?: number;
  cpus?: number;
  /** default: env KERNMOD_VM_ACCEL, else 'auto' (KVM if a probe boot works, else TCG) */
  accel?: AccelRequest;
  /** working directory of the command (same path in the guest); default process.cwd() */
  cwd?: string;
  /** extra environment for the command */
  env?: Record<string, string>;
  /** host directories under /tmp or /run to keep visible in the guest (the cwd always is) */
  keep?: string[];
  /** stream the command's output to our stdout as it arrives (stdout and stderr share the console) */
  echo?: boolean;
  /** install missing packages first (root + apt only) */
  provision?: boolean;
  /** progress messages (kernel chosen, accel, initramfs rebuilt); default: none */
  log?: (line: string) => void;
  /**
   * Boot again, up to this many times, when the guest dies before the command has started (a kernel
   * panic during boot). Nothing of the command ran, so a new boot hides no effect of it. Default 0:
   * a caller that retries says so in its report (see VmRunResult.earlyDeaths).
   */
  bootRetries?: number;
}

export interface VmRunResult {
  /** the command's exit code, 124 on timeout, -1 if the guest died before the command finished */
  exitCode: number;
  /** the command's stdout+stderr, \r removed */
  output: string;
  /** the guest's full kernel log (empty if the guest never got to save it) */
  dmesg: string;
  /** the whole serial console (boot messages, init diagnostics, output) plus qemu's stderr: for post-mortems */
  console: string;
  release: string;
  accel: Accel;
  /** qemu start to the command starting */
  bootMs: number;
  durationMs: number;
  timedOut: boolean;
  /** host path of the guest's $KERNMOD_VM_IO; left for the caller to read result files and delete */
  ioDir: string;
  /**
   * Boots that died before the command started and were retried (bootRetries), oldest first: the
   * last console lines of each, for the report. Empty when the first boot ran the command.
   */
  earlyDeaths: string[];
}

export const GUEST_IO_DIR = '/tmp/kernmod-io';
const DEFAULT_TIMEOUT_MS = 15 * 60_000;

/** Paths the guest replaces with its own mounts: a cwd there would not be the host's directory. */
const GUEST_PRIVATE = ['/tmp', '/run', '/proc', '/sys', '/dev'];
/** Of those, the ones where the guest can keep a host directory visible (bound back over its tmpfs). */
const KEEPABLE = ['/tmp', '/run'];

/** A path that the guest's own /tmp or /run would hide, so the guest binds it back (e.g. a CI clone in /tmp). */
function hiddenByGuest(path: string): boolean {
  return KEEPABLE.some((g) => path.startsWith(g + '/'));
}

function guestPath(hostPath: string): string {
  const sysPaths = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];
  // The node running us first, so "node" in the guest is the same binary.
  const parts = [dirname(process.execPath), ...hostPath.split(delimiter), ...sysPaths];
  return [...new Set(parts.filter((p) => isAbsolute(p) && !GUEST_PRIVATE.some((g) => p === g || p.startsWith(g + '/'))))].join(':');
}

function kernelCmdline(nonce: string, append: readonly string[]): string {
  for (const a of append) {
    if (/\s/.test(a) || a === '') throw new Error(`kernmod vm: kernel argument must be one word without spaces: ${JSON.stringify(a)}`);
  }
  return [
    'console=ttyS0',
    // Only warnings and worse on the console while booting; init lowers it further for the command.
    'quiet',
    // Make a panic end the VM at once (-no-reboot turns the reboot into a qemu exit).
    'panic=-1',
    // dmesg is the test evidence: keep all of it, even after long runs.
    'log_buf_len=8M',
    `kernmod.nonce=${nonce}`,
    'kernmod.mode=run',
    ...append,
  ].join(' ');
}

export async function runInVm(command: string[], opts: VmRunOptions = {}): Promise<VmRunResult> {
  const log = opts.log ?? (() => {});
  const spec = opts.kernel ?? DEFAULT_KERNEL_SPEC;
  if (command.length === 0) throw new Error('kernmod vm: no command given');
  if (opts.provision) await provision({ kernels: [spec], install: true, log });

  const cwd = resolve(opts.cwd ?? process.cwd());
  if (GUEST_PRIVATE.some((g) => cwd === g || cwd.startsWith(g + '/')) && !hiddenByGuest(cwd)) {
    throw new Error(
      `kernmod vm: cwd ${cwd} is inside ${GUEST_PRIVATE.join(', ')}, which the guest mounts afresh; use a directory elsewhere`,
    );
  }
  if (!existsSync(cwd) || !statSync(cwd).isDirectory()) throw new Error(`kernmod vm: cwd ${cwd} is not a directory`);

  // Fail before creating anything if a host tool is missing.
  requireTool('qemu-system-x86_64');
  requireTool('timeout');
  const kernel = resolveKernel(spec);
  const initrd = ensureInitramfs(kernel);
  if (initrd.built) log(`kernmod vm: built initramfs for ${kernel.release} (modules: ${initrd.modules.join(' ') || 'none'})`);
  const choice = await chooseAccel(kernel, initrd.path, opts.accel);
  log(
    `kernmod vm: kernel ${kernel.release}, accel ${choice.accel} ` +
      `(${choice.reason}${choice.probe && !choice.probe.cached ? `, probe ${choice.probe.ms} ms` : ''})`,
  );

  const deadline = Date.now() + (opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  return bootWithRetries(
    async () => {
      const ioDir = mkdtempSync(join(tmpdir(), 'kernmod-vm-'));
      try {
        // A retry gets what is left of the whole-run limit, not a fresh one.
        return await boot(
          command,
          { ...opts, timeoutMs: Math.max(1000, deadline - Date.now()) },
          { kernel, initrd: initrd.path, accel: choice.accel, ioDir, cwd },
        );
      } catch (e) {
        rmSync(ioDir, { recursive: true, force: true });
        throw e;
      }
    },
    { retries: opts.bootRetries ?? 0, log, interrupted: () => interruptedBy() !== null },
  );
}

/**
 * True when the guest ended before the command began: no exit code, no timeout, and the init never
 * announced the command (bootMs < 0). Under multi-threaded TCG a boot now and then panics in kernel
 * code patching (seen once in CI: "Oops: int3" in sched_clock_cpu on 6.12), before user space runs.
 */
export function diedBeforeCommand(r: Pick<VmRunResult, 'exitCode' | 'bootMs' | 'timedOut'>): boolean {
  return r.exitCode === -1 && r.bootMs < 0 && !r.timedOut;
}

const CONSOLE_LINES_KEPT = 30;

/**
 * Runs bootOnce() and, while its result died before the command and retries are left (and we are not
 * being interrupted), discards that boot's io directory and boots again. The dead boots' console tails
 * travel in the result (earlyDeaths), so a retry is always visible to the caller.
 */
export async function bootWithRetries(
  bootOnce: () => Promise<VmRunResult>,
  o: { retries: number; log: (line: string) => void; interrupted: () => boolean },
): Promise<VmRunResult> {
  const earlyDeaths: string[] = [];
  for (;;) {
    const r = await bootOnce();
    if (!diedBeforeCommand(r) || earlyDeaths.length >= o.retries || o.interrupted()) return { ...r, earlyDeaths };
    const tail = r.console.replace(/\n+$/, '').split('\n').slice(-CONSOLE_LINES_KEPT).join('\n');
    earlyDeaths.push(tail);
    o.log(
      `kernmod vm: the guest died during boot, before the command started ` +
        `(${(r.durationMs / 1000).toFixed(1)} s); booting again (retry ${earlyDeaths.length} ` +
        `of ${o.retries}). Its last console lines:\n${tail}`,
    );
    rmSync(r.ioDir, { recursive: true, force: true });
  }
}

async function boot(
  command: string[],
  opts: VmRunOptions,
  ctx: { kernel: KernelInfo; initrd: string; accel: Accel; ioDir: string; cwd: string },
): Promise<VmRunResult> {
  const { kernel, ioDir, cwd } = ctx;
  const log = opts.log ?? (() => {});
  const env: Record<string, string> = {
    PATH: guestPath(process.env['PATH'] ?? ''),
    HOME: '/tmp',
    ...opts.env,
    KERNMOD_VM: '1',
    KERNMOD_VM_IO: GUEST_IO_DIR,
    KERNMOD_VM_KERNEL: kernel.release,
  };
  writeFileSync(join(ioDir, 'kernmod-run.sh'), buildRunScript({ command, cwd, env }));
  // Host directories under /tmp or /run that the guest must keep visible: the working directory (a
  // project cloned into /tmp, say) and any extra ones the caller names.
  const keep = [...new Set([cwd, ...(opts.keep ?? []).map((k) => resolve(k))].filter(hiddenByGuest))];
  for (const k of keep) if (k.includes('\n')) throw new Error(`kernmod vm: cannot share a path containing a newline: ${JSON.stringify(k)}`);
  writeFileSync(join(ioDir, 'keep'), keep.map((k) => `${k}\n`).join(''));

  const nonce = randomBytes(6).toString('hex');
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const started = Date.now();
  const vm = startQemu(
    {
      vmlinuz: kernel.vmlinuz,
      initrd: ctx.initrd,
      cmdline: kernelCmdline(nonce, opts.append ?? []),
      accel: ctx.accel,
      memoryMiB: opts.memoryMiB ?? 2048,
      cpus: opts.cpus ?? 2,
      shares: [
        { hostPath: '/', tag: 'hostroot', readonly: true },
        { hostPath: ioDir, tag: 'kernmodio', readonly: false },
      ],
    },
    // The hard limit backs up our own timer, so it is a little longer.
    timeoutMs / 1000 + 15,
  );

  const scanner = new ConsoleScanner(nonce);
  let output = '';
  let bootMs = -1;
  let endCode: number | undefined;
  let qemuStderr = '';
  vm.child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    for (const ev of scanner.push(chunk)) {
      if (ev.kind === 'begin') bootMs = Date.now() - started;
      else if (ev.kind === 'output') {
        output += ev.text;
        if (opts.echo) process.stdout.write(ev.text);
      } else if (ev.kind === 'end') endCode = ev.exitCode;
      else if (ev.kind === 'error') log(`kernmod vm: guest init: ${ev.message}`);
    }
  });
  vm.child.stderr?.setEncoding('utf8').on('data', (d: string) => (qemuStderr += d));

  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    vm.kill();
  }, timeoutMs);
  try {
    await vm.exited;
  } finally {
    clearTimeout(timer);
  }
  for (const ev of scanner.flush()) {
    if (ev.kind === 'output') {
      output += ev.text;
      if (opts.echo) process.stdout.write(ev.text);
    }
  }

  const readIo = (name: string): string | undefined => {
    try {
      return readFileSync(join(ioDir, name), 'utf8');
    } catch {
      return undefined;
    }
  };
  const codeFile = readIo('exit-code');
  let exitCode = -1;
  if (timedOut) exitCode = 124;
  else if (codeFile !== undefined && /^\d+\s*$/.test(codeFile)) exitCode = Number(codeFile.trim());
  else if (endCode !== undefined) exitCode = endCode;

  return {
    exitCode,
    output,
    dmesg: readIo('dmesg') ?? '',
    console: scanner.log + (qemuStderr ? `\n[qemu stderr]\n${qemuStderr}` : ''),
    release: kernel.release,
    accel: ctx.accel,
    bootMs,
    durationMs: Date.now() - started,
    timedOut,
    ioDir,
    earlyDeaths: [],
  };
}
