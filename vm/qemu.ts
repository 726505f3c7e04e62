// Starting qemu and making sure it never outlives us. Three layers:
//  1. the caller's own deadline (kill() on timeout);
//  2. handlers for our exit / SIGINT / SIGTERM / SIGHUP that SIGKILL every running VM;
//  3. qemu runs under coreutils `timeout -k 5 <secs>`, so even a SIGKILLed node (which runs no
//     handlers) cannot leave a VM spinning forever.
// qemu is started in its own process group (detached) and always signalled as a group, so killing
// reaches both `timeout` and qemu: SIGKILL to `timeout` alone would orphan qemu.
import { spawn, type ChildProcess } from 'node:child_process';
import { requireTool } from './tools.js';

export type Accel = 'kvm' | 'tcg';

interface Share {
  hostPath: string;
  tag: string;
  readonly: boolean;
}

export interface QemuConfig {
  vmlinuz: string;
  initrd: string;
  cmdline: string;
  accel: Accel;
  memoryMiB: number;
  cpus: number;
  shares: Share[];
}

/** qemu-system-x86_64 arguments (pure). The console is the first serial port on our stdout. */
export function qemuArgs(c: QemuConfig): string[] {
  const args = [
    '-accel',
    c.accel,
    // TCG: "max" enables everything TCG emulates (rdrand keeps the guest's RNG from stalling);
    // KVM: pass the host CPU through.
    '-cpu',
    c.accel === 'kvm' ? 'host' : 'max',
    '-m',
    String(c.memoryMiB),
    '-smp',
    String(c.cpus),
    // No default NIC/VGA/floppy/CD: less to probe at boot, nothing we use.
    '-nodefaults',
    '-no-reboot',
    '-display',
    'none',
    '-chardev',
    'stdio,id=console,signal=off',
    '-serial',
    'chardev:console',
    '-kernel',
    c.vmlinuz,
    '-initrd',
    c.initrd,
    '-append',
    c.cmdline,
  ];
  for (const s of c.shares) {
    if (/[,=]/.test(s.tag) || /,/.test(s.hostPath)) throw new Error(`qemu: share path/tag must not contain commas: ${s.hostPath}`);
    args.push(
      '-virtfs',
      `local,path=${s.hostPath},mount_tag=${s.tag},security_model=none,multidevs=remap${s.readonly ? ',readonly=on' : ''}`,
    );
  }
  return args;
}

export interface QemuProcess {
  child: ChildProcess;
  /** resolves when qemu (and the timeout wrapper) exited */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM the group, SIGKILL it after `graceMs` if still alive */
  kill(graceMs?: number): void;
}

const live = new Set<ChildProcess>();
let handlersInstalled = false;

function killGroup(child: ChildProcess, sig: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, sig);
  } catch {
    // already gone
  }
}

function killAllNow(): void {
  for (const c of live) killGroup(c, 'SIGKILL');
}

// At exit nothing asynchronous can run any more: SIGKILL the groups (init reaps the orphans).
const onExit = (): void => killAllNow();
// On a signal there is time to do it properly: SIGTERM only `timeout`, which passes it on to qemu
// and reaps it (no zombie left behind), wait briefly for that, then SIGKILL whatever remains.
let interrupted: NodeJS.Signals | null = null;

/** The signal that made us tear the VMs down, if any (lets callers say "interrupted", not "guest died"). */
export function interruptedBy(): NodeJS.Signals | null {
  return interrupted;
}

const onSignal = (sig: NodeJS.Signals): void => {
  interrupted = sig;
  uninstallHandlers();
  const children = [...live];
  for (const c of children) {
    try {
      if (c.pid !== undefined && c.exitCode === null && c.signalCode === null) process.kill(c.pid, 'SIGTERM');
    } catch {
      // gone
    }
  }
  const closed = children.map(
    (c) => new Promise<void>((r) => (c.exitCode !== null || c.signalCode !== null ? r() : c.once('close', () => r()))),
  );
  const deadline = new Promise<void>((r) => setTimeout(r, 2000).unref());
  void Promise.race([Promise.all(closed), deadline]).then(() => {
    for (const c of children) killGroup(c, 'SIGKILL');
    // We only wanted to clean up; if nobody else handles the signal, die of it as we would have.
    if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
  });
};
const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

function installHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', onExit);
  for (const s of SIGNALS) process.on(s, onSignal);
}

function uninstallHandlers(): void {
  if (!handlersInstalled) return;
  handlersInstalled = false;
  process.off('exit', onExit);
  for (const s of SIGNALS) process.off(s, onSignal);
}

/**
 * Spawn qemu under `timeout`. `hardLimitSec` is the last-resort limit enforced by `timeout`; callers
 * keep their own, shorter deadline and call kill() so they can report a timeout properly.
 */
export function startQemu(config: QemuConfig, hardLimitSec: number): QemuProcess {
  const qemu = requireTool('qemu-system-x86_64');
  const timeout = requireTool('timeout');
  const child = spawn(timeout, ['-k', '5', String(Math.ceil(hardLimitSec)), qemu, ...qemuArgs(config)], {
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  live.add(child);
  installHandlers();
  let killTimer: NodeJS.Timeout | undefined;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.once('error', (e) => {
      live.delete(child);
      if (live.size === 0) uninstallHandlers();
      reject(new Error(`cannot start qemu: ${e.message}`));
    });
    child.once('close', (code, signal) => {
      live.delete(child);
      if (live.size === 0) uninstallHandlers();
      if (killTimer) clearTimeout(killTimer);
      // The group may still hold a qemu that `timeout` failed to reap (it should not); make sure.
      if (child.pid !== undefined) {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          // normal: group is empty
        }
      }
      resolve({ code, signal });
    });
  });
  return {
    child,
    exited,
    kill(graceMs = 3000) {
      killGroup(child, 'SIGTERM');
      if (!killTimer) {
        killTimer = setTimeout(() => killGroup(child, 'SIGKILL'), graceMs);
        killTimer.unref();
      }
    },
  };
}
