// `kernmod vm ...`: run a command in a guest from the shell. Called by the main CLI (lib/cli).
import { join } from 'node:path';
import { getoptLong, GLIBC_POSIX, optionHelp, ParsedOptions } from '../lib/cli/getopt.js';
import { VM_OPTIONS } from '../lib/cli/options.js';
import { parseAccelRequest } from './accel.js';
import { listInstalledKernels } from './kernels.js';
import { provision } from './provision.js';
import { interruptedBy } from './qemu.js';
import { runInVm } from './run.js';

const VM_USAGE = `Usage:
  kernmod vm [options] -- COMMAND [ARGS...]   run COMMAND as root in a qemu guest (host root mounted read-only)
  kernmod vm --list                           list kernels that can be booted

Options:
${optionHelp(VM_OPTIONS)}In the guest: cwd is the current directory, $KERNMOD_VM_IO is a writable directory shared with the
host (its host path is printed at the end), $KERNMOD_VM_KERNEL is the release.`;

function num(v: string | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name}: expected a positive number, got "${v}"`);
  return n;
}

export async function vmCommand(argv: string[]): Promise<number> {
  // The options end at `--` or at the first operand (the guest's command), whose own options are its own.
  const parsed = getoptLong(argv, VM_OPTIONS, GLIBC_POSIX);
  if (parsed.error !== undefined) {
    process.stderr.write(`kernmod vm: ${parsed.error}\n${VM_USAGE}\n`);
    return 2;
  }
  const o = new ParsedOptions(parsed);
  const positionals = parsed.operands;
  const flag = (key: string): true | undefined => (o.has(key) ? true : undefined);
  const v = {
    kernel: o.last('kernel'),
    append: o.all('append'),
    timeout: o.last('timeout'),
    accel: o.last('accel'),
    memory: o.last('memory'),
    cpus: o.last('cpus'),
    env: o.all('env'),
    'boot-retries': o.last('boot-retries'),
    dmesg: flag('dmesg'),
    provision: flag('provision'),
    quiet: flag('quiet'),
    list: flag('list'),
    help: flag('help'),
  };
  if (v.help) {
    process.stdout.write(VM_USAGE + '\n');
    return 0;
  }
  const log = v.quiet ? () => {} : (s: string) => process.stderr.write(s + '\n');
  try {
    if (v.list) {
      const ks = listInstalledKernels();
      if (ks.length === 0) process.stdout.write('no bootable kernels (vmlinuz + /lib/modules) installed\n');
      for (const k of ks) process.stdout.write(`${k.release}\t${k.vmlinuz}\t${k.headersDir ?? '(no headers)'}\n`);
      return 0;
    }
    if (positionals.length === 0) {
      if (v.provision) {
        await provision({ kernels: [v.kernel ?? '6.1'], install: true, log });
        return 0;
      }
      process.stderr.write(`kernmod vm: no command given\n${VM_USAGE}\n`);
      return 2;
    }
    const env: Record<string, string> = {};
    for (const e of v.env ?? []) {
      const eq = e.indexOf('=');
      if (eq <= 0) throw new Error(`--env: expected NAME=VALUE, got "${e}"`);
      env[e.slice(0, eq)] = e.slice(eq + 1);
    }
    const timeoutSec = num(v.timeout, 'timeout');
    const memoryMiB = num(v.memory, 'memory');
    const cpus = num(v.cpus, 'cpus');
    const accel = parseAccelRequest(v.accel, '--accel');
    const bootRetries = v['boot-retries'] === undefined ? 1 : Number(v['boot-retries']);
    if (!Number.isSafeInteger(bootRetries) || bootRetries < 0)
      throw new Error(`--boot-retries: expected a whole number >= 0, got "${v['boot-retries']}"`);
    const r = await runInVm(positionals, {
      ...(v.kernel !== undefined ? { kernel: v.kernel } : {}),
      append: v.append ?? [],
      ...(timeoutSec !== undefined ? { timeoutMs: timeoutSec * 1000 } : {}),
      ...(memoryMiB !== undefined ? { memoryMiB } : {}),
      ...(cpus !== undefined ? { cpus } : {}),
      ...(accel !== undefined ? { accel } : {}),
      env,
      bootRetries,
      echo: true,
      provision: v.provision ?? false,
      log,
    });
    if (v.dmesg) process.stderr.write(`----- guest dmesg (${r.release}) -----\n${r.dmesg}`);
    const signal = interruptedBy();
    if (signal) {
      log(`kernmod vm: interrupted by ${signal}; VM stopped`);
      return 128 + (signal === 'SIGINT' ? 2 : signal === 'SIGHUP' ? 1 : 15);
    }
    // If the command never started, its (empty) output cannot explain why; the console can.
    if (r.bootMs < 0) {
      process.stderr.write(`----- guest console (last 40 lines) -----\n${r.console.split('\n').slice(-40).join('\n')}\n`);
    }
    const retried = r.earlyDeaths.length
      ? `; booted ${r.earlyDeaths.length + 1} times (${r.earlyDeaths.length} died before the command started)`
      : '';
    const what = r.timedOut
      ? `timed out after ${Math.round(r.durationMs / 1000)} s`
      : r.exitCode === -1
        ? 'guest died'
        : `exit code ${r.exitCode}`;
    log(
      `kernmod vm: ${r.release} (${r.accel}): ${what}; boot ${r.bootMs >= 0 ? `${(r.bootMs / 1000).toFixed(1)} s` : 'did not finish'}, ` +
        `total ${(r.durationMs / 1000).toFixed(1)} s${retried}; ` +
        `io dir ${r.ioDir}${v.dmesg || !r.dmesg ? '' : ` (dmesg: ${join(r.ioDir, 'dmesg')})`}`,
    );
    return r.exitCode === -1 ? 255 : r.exitCode;
  } catch (e) {
    // 125, like env(1)/timeout(1): the rig failed, not the command.
    process.stderr.write(`${(e as Error).message}\n`);
    return 125;
  }
}
