// Preflight: can a load work here, and if not, why — checked before trying, from what the kernel
// exposes (none of this is in kmod). Each check says pass/fail/warn and what to do. preflight() runs
// the system checks and, for a file, the file checks.
import { release } from 'node:os';
import { join } from 'node:path';
import { modinfo } from '../elf/modinfo.js';
import { readSmallFileSync } from '../fs-read.js';
import { encodeParams, type ParamsInput, parseParams } from '../params.js';
import { isLoaded } from './state.js';

export type CheckStatus = 'pass' | 'fail' | 'warn' | 'info';

export interface Check {
  id: string;
  status: CheckStatus;
  message: string;
  /** What to do about a fail or warn. */
  fix?: string;
}

export interface SystemFacts {
  moduleSupport: boolean;
  capSysModule: boolean | null;
  modulesDisabled: boolean | null;
  lockdown: 'none' | 'integrity' | 'confidentiality' | null;
  sigEnforce: boolean | null;
  compression: string | null;
  release: string;
}

export interface PreflightEnv {
  /** Root of /proc and /sys (tests, containers). */
  root?: string;
  release?: string;
}

/** The procfs and sysfs files read here are a few hundred bytes; anything else reads as unknown. */
const MAX_FACT_BYTES = 64 * 1024;

/** A fact's file, trimmed, or null when it is absent or not a small regular file (a FIFO in a test tree). */
function read(root: string, path: string): string | null {
  try {
    return readSmallFileSync(join(root, path), MAX_FACT_BYTES).toString('utf8').trim();
  } catch {
    return null;
  }
}

/** CAP_SYS_MODULE is capability bit 16 of CapEff in /proc/self/status. */
export function hasCapSysModule(status: string): boolean | null {
  const m = /^CapEff:\s*([0-9a-f]+)$/im.exec(status);
  if (!m) return null;
  return (BigInt(`0x${m[1]}`) & (1n << 16n)) !== 0n;
}

/** /sys/kernel/security/lockdown shows the modes with the active one in brackets. */
export function parseLockdown(text: string): SystemFacts['lockdown'] {
  const m = /\[(\w+)\]/.exec(text);
  return m && (m[1] === 'none' || m[1] === 'integrity' || m[1] === 'confidentiality') ? m[1] : null;
}

export function systemFacts(env: PreflightEnv = {}): SystemFacts {
  const root = env.root ?? '/';
  const status = read(root, 'proc/self/status');
  const disabled = read(root, 'proc/sys/kernel/modules_disabled');
  const lockdown = read(root, 'sys/kernel/security/lockdown');
  const enforce = read(root, 'sys/module/module/parameters/sig_enforce');
  return {
    moduleSupport: read(root, 'proc/modules') !== null,
    capSysModule: status === null ? null : hasCapSysModule(status),
    modulesDisabled: disabled === null ? null : disabled === '1',
    lockdown: lockdown === null ? null : parseLockdown(lockdown),
    sigEnforce: enforce === null ? null : enforce === 'Y',
    compression: read(root, 'sys/module/compression') || null,
    release: env.release ?? release(),
  };
}

/** The system checks, in the order a load would trip over them. */
export function systemChecks(f: SystemFacts): Check[] {
  const checks: Check[] = [
    f.moduleSupport
      ? { id: 'module-support', status: 'pass', message: `kernel ${f.release} has loadable module support` }
      : {
          id: 'module-support',
          status: 'fail',
          message: `kernel ${f.release} has no loadable module support (no /proc/modules: CONFIG_MODULES=n); every load gives ENOSYS`,
          fix: 'use a kernel built with modules, or test in a VM: `kernmod vm -- ...`',
        },
  ];
  if (f.capSysModule !== null) {
    checks.push(
      f.capSysModule
        ? { id: 'cap-sys-module', status: 'pass', message: 'this process has CAP_SYS_MODULE' }
        : {
            id: 'cap-sys-module',
            status: 'fail',
            message: 'this process lacks CAP_SYS_MODULE: loads and unloads give EPERM',
            fix: 'run as root (or grant CAP_SYS_MODULE)',
          },
    );
  }
  if (f.modulesDisabled !== null) {
    checks.push(
      f.modulesDisabled
        ? {
            id: 'modules-disabled',
            status: 'fail',
            message: 'kernel.modules_disabled is 1: every load and unload gives EPERM until reboot',
            fix: 'reboot; the setting cannot be turned off',
          }
        : { id: 'modules-disabled', status: 'pass', message: 'kernel.modules_disabled is 0' },
    );
  }
  if (f.lockdown !== null) {
    checks.push(
      f.lockdown === 'none'
        ? { id: 'lockdown', status: 'pass', message: 'kernel lockdown is off' }
        : {
            id: 'lockdown',
            status: 'warn',
            message: `kernel lockdown is "${f.lockdown}": unsigned modules or ones signed by an unknown key give EPERM`,
            fix: 'sign the module with a key the kernel trusts (MOK / built-in keyring)',
          },
    );
  }
  if (f.sigEnforce !== null) {
    checks.push(
      f.sigEnforce
        ? {
            id: 'sig-enforce',
            status: 'warn',
            message: 'module.sig_enforce is on: unsigned modules give EKEYREJECTED',
            fix: 'sign the module with a trusted key; forced loads (ignoreVermagic/…) also count as unsigned',
          }
        : {
            id: 'sig-enforce',
            status: 'pass',
            message: 'module signatures are checked but not enforced (unsigned modules taint the kernel with E)',
          },
    );
  }
  checks.push({
    id: 'compression',
    status: 'info',
    message: f.compression
      ? `the kernel decompresses ${f.compression} modules itself (others are decompressed by kernmod)`
      : 'the kernel decompresses no modules itself: kernmod decompresses gzip/xz/zstd modules in user space',
  });
  return checks;
}

// ---- checks for one module file -------------------------------------------------------------------

export interface FileFacts {
  name: string;
  vermagic: string | undefined;
  signed: boolean;
  signer?: string;
  compression: string | null;
  /** Parameter names the module declares (parm=/parmtype=). */
  params: string[];
  depends: string[];
}

/**
 * The file checks, given what modinfo read and what the caller means to pass:
 *  - vermagic's first word against the running release (the flags part is checked by the kernel);
 *  - a signature when the kernel enforces them;
 *  - already loaded (EEXIST);
 *  - dependencies not loaded (ENOENT: unknown symbol);
 *  - parameter names the module does not declare (the kernel only warns and ignores them);
 *  - compression the kernel cannot undo itself (kernmod will decompress in user space).
 */
export function fileChecks(file: FileFacts, sys: SystemFacts, opts: { params?: string[]; loaded: (name: string) => boolean }): Check[] {
  const checks: Check[] = [];
  const built = file.vermagic?.split(' ')[0];
  if (built === undefined) {
    checks.push({
      id: 'vermagic',
      status: 'fail',
      message: `${file.name} has no vermagic: the kernel will refuse it (ENOEXEC)`,
      fix: 'rebuild it with kbuild',
    });
  } else if (built !== sys.release) {
    checks.push({
      id: 'vermagic',
      status: 'fail',
      message: `${file.name} was built for ${built}, this kernel is ${sys.release}: ENOEXEC ("version magic ... should be ...")`,
      fix: `rebuild it against /lib/modules/${sys.release}/build, or force with ignoreVermagic (taints the kernel)`,
    });
  } else {
    checks.push({ id: 'vermagic', status: 'pass', message: `built for this kernel (${built})` });
  }
  if (file.signed) {
    checks.push({
      id: 'signature',
      status: 'pass',
      message: `signed${file.signer ? ` by "${file.signer}"` : ''} (the kernel still checks the key is trusted)`,
    });
  } else if (sys.sigEnforce || (sys.lockdown !== null && sys.lockdown !== 'none')) {
    checks.push({
      id: 'signature',
      status: 'fail',
      message: `${file.name} is unsigned and this kernel enforces signatures: ${sys.sigEnforce ? 'EKEYREJECTED' : 'EPERM'}`,
      fix: 'sign it with scripts/sign-file and a key the kernel trusts',
    });
  } else {
    checks.push({ id: 'signature', status: 'warn', message: `${file.name} is unsigned: it loads, and taints the kernel (E)` });
  }
  checks.push(
    opts.loaded(file.name)
      ? {
          id: 'loaded',
          status: 'fail',
          message: `${file.name} is already loaded: EEXIST`,
          fix: `unload it first (kernmod rmmod ${file.name})`,
        }
      : { id: 'loaded', status: 'pass', message: `${file.name} is not loaded yet` },
  );
  const missing = file.depends.filter((d) => !opts.loaded(d));
  if (file.depends.length) {
    checks.push(
      missing.length
        ? {
            id: 'depends',
            status: 'fail',
            message: `needs ${missing.join(', ')}, not loaded: ENOENT (unknown symbol)`,
            fix: `load them first, or use kernmod modprobe ${file.name}`,
          }
        : { id: 'depends', status: 'pass', message: `its dependencies are loaded (${file.depends.join(', ')})` },
    );
  }
  if (opts.params?.length) {
    const declared = new Set(file.params.map((p) => p.replaceAll('-', '_')));
    const unknown = opts.params.filter((p) => !declared.has(p.replaceAll('-', '_')) && p !== 'dyndbg' && p !== 'async_probe');
    checks.push(
      unknown.length
        ? {
            id: 'params',
            status: 'warn',
            message:
              `unknown parameter${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}: ` +
              `the kernel ignores ${unknown.length > 1 ? 'them' : 'it'} with only a dmesg warning`,
            fix: `known: ${[...declared].join(', ') || '(none)'}`,
          }
        : { id: 'params', status: 'pass', message: 'every parameter name is one the module declares' },
    );
  }
  if (file.compression) {
    const byKernel = file.compression === sys.compression;
    const how = byKernel
      ? "the kernel decompresses it (kernmod retries in user space if the kernel's decoder refuses it)"
      : `kernmod decompresses it in user space (this kernel decompresses ${sys.compression ?? 'nothing'})`;
    checks.push({ id: 'file-compression', status: byKernel ? 'pass' : 'info', message: `${file.compression}-compressed: ${how}` });
  }
  return checks;
}

export interface PreflightResult {
  /** False when any check failed: the load would be refused. */
  ok: boolean;
  checks: Check[];
}

export async function preflight(path?: string, opts: PreflightEnv & { params?: ParamsInput } = {}): Promise<PreflightResult> {
  const sys = systemFacts(opts);
  const checks = systemChecks(sys);
  if (path !== undefined) {
    const info = await modinfo(path, { lenient: true });
    const params = opts.params === undefined ? [] : parseParams(encodeParams(opts.params)).map((p) => p.name);
    const state = opts.root === undefined ? {} : { root: opts.root };
    checks.push(
      ...fileChecks(
        {
          name: info.name,
          vermagic: info.vermagic,
          signed: info.signature !== undefined,
          ...(info.signature?.signer ? { signer: info.signature.signer } : {}),
          compression: info.compression,
          params: info.params.map((p) => p.name),
          depends: info.depends,
        },
        sys,
        { params, loaded: (name) => isLoaded(name, state) },
      ),
    );
  }
  return { ok: !checks.some((c) => c.status === 'fail'), checks };
}
