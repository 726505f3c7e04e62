// A loaded module's parameters as the kernel exposes them: /sys/module/<name>/parameters/<param>, one
// file per parameter the module declared with a non-zero permission. The file's mode is the module's
// own (module_param's perm): the kernel refuses to open one without a write bit for writing (even for
// root), and a write runs the parameter's setter, which may refuse the value (EINVAL, ERANGE ...).
import { readdirSync, statSync, writeFileSync } from 'node:fs';
import { readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { causeError, invalidInput, KernmodError } from '../errors.js';
import { errnoInfo, LINUX_ERRNO } from '../errno.js';
import { readSmallFile, readSmallFileSync } from '../fs-read.js';
import { normalizeModuleName, validateModuleName } from '../names.js';
import { checkParamName, normalizeParamName, type ParamScalar } from '../params.js';
import { trimNl } from './state.js';

export interface ParameterInfo {
  /** The value as sysfs shows it (bools as Y/N), without the trailing newline; undefined if unreadable. */
  value: string | undefined;
  /** The file has a write bit: setParameter can change it while the module is loaded. */
  writable: boolean;
}

export interface ParameterOptions {
  /** Root of sysfs, for tests and containers: `${sysRoot}/sys/module`. */
  sysRoot?: string;
}

/** A sysfs attribute shows at most one page (64 KiB on the largest page size Linux uses). */
const PARAM_VALUE_MAX = 65536;

function paramsDir(module: string, opts: ParameterOptions): string {
  return join(opts.sysRoot ?? '', '/sys/module', normalizeModuleName(validateModuleName(module, 0)), 'parameters');
}

function checkValue(module: string, name: string, value: unknown): string {
  const text =
    typeof value === 'boolean' ? (value ? 'Y' : 'N') : typeof value === 'number' || typeof value === 'bigint' ? String(value) : value;
  if (typeof text !== 'string')
    throw invalidInput('ERR_KERNMOD_INVALID_PARAMS', `parameter ${name}: unsupported value type ${typeof value}`, { module });
  if (text.includes('\0') || text.includes('\n')) {
    throw invalidInput('ERR_KERNMOD_INVALID_PARAMS', `parameter ${name}: values cannot contain NUL or a newline`, { module });
  }
  return text;
}

function notLoaded(module: string): KernmodError {
  return new KernmodError({
    code: 'ENOENT',
    errno: -LINUX_ERRNO.ENOENT,
    module,
    phase: 'validate',
    message: `module ${module} is not loaded`,
    hint: 'parameters can be read and set only while the module is loaded (/sys/module/<name>/parameters)',
  });
}

function writeError(e: unknown, module: string, name: string, path: string): KernmodError {
  const errno = (e as NodeJS.ErrnoException).errno;
  // Not a system call's answer (a bad sysRoot, a bug): typed, with the real cause, never a made-up EIO.
  if (typeof errno !== 'number') return causeError(e, 'load', { module, path });
  const code = (e as NodeJS.ErrnoException).code ?? errnoInfo(-Math.abs(errno)).code;
  if (code === 'ENOENT') {
    return new KernmodError({
      code,
      errno: -LINUX_ERRNO.ENOENT,
      module,
      path,
      phase: 'validate',
      message: `module ${module} has no parameter ${name} in sysfs`,
      hint: 'it is not loaded, has no such parameter, or declared it with permission 0 (not in sysfs)',
    });
  }
  const hint =
    code === 'EACCES' || code === 'EPERM'
      ? `parameter ${name} is read-only (its sysfs file has no write bit): it takes effect only at load time`
      : code === 'EINVAL' || code === 'ERANGE'
        ? `the module's setter refused the value for ${name} (see dmesg)`
        : errnoInfo(-Math.abs(errno)).description;
  return new KernmodError({
    code,
    errno: -Math.abs(errno),
    module,
    path,
    phase: 'load',
    message: `${code}: cannot set ${module}.${name}`,
    hint,
    cause: e,
  });
}

/** A loaded module's parameters in sysfs; ENOENT (a KernmodError) if the module is not loaded. */
export function getParametersSync(module: string, opts: ParameterOptions = {}): Record<string, ParameterInfo> {
  const dir = paramsDir(module, opts);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    try {
      statSync(join(dir, '..'));
    } catch {
      throw notLoaded(module);
    }
    return {}; // loaded, but without parameters in sysfs
  }
  const out: Record<string, ParameterInfo> = {};
  for (const name of names.sort()) {
    const p = join(dir, name);
    let value: string | undefined;
    try {
      value = trimNl(readSmallFileSync(p, PARAM_VALUE_MAX).toString('utf8'));
    } catch {
      value = undefined;
    }
    out[name] = { value, writable: (statSync(p).mode & 0o222) !== 0 };
  }
  return out;
}

export async function getParameters(module: string, opts: ParameterOptions = {}): Promise<Record<string, ParameterInfo>> {
  const dir = paramsDir(module, opts);
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    try {
      await stat(join(dir, '..'));
    } catch {
      throw notLoaded(module);
    }
    return {};
  }
  const out: Record<string, ParameterInfo> = {};
  for (const name of names.sort()) {
    const p = join(dir, name);
    const [st, value] = await Promise.all([
      stat(p),
      readSmallFile(p, PARAM_VALUE_MAX).then(
        (b) => trimNl(b.toString('utf8')),
        () => undefined,
      ),
    ]);
    out[name] = { value, writable: (st.mode & 0o222) !== 0 };
  }
  return out;
}

/** kernfs refuses a write to a file without a write bit even to root; say so the same way everywhere. */
function readOnlyCheck(mode: number): void {
  if ((mode & 0o222) === 0) throw Object.assign(new Error('read-only parameter'), { code: 'EACCES', errno: -LINUX_ERRNO.EACCES });
}

/**
 * Sets a loaded module's parameter at run time, as `echo VALUE > /sys/module/M/parameters/P` does:
 * the module's own setter checks the value. Read-only parameters fail with EACCES.
 */
export function setParameterSync(module: string, name: string, value: ParamScalar, opts: ParameterOptions = {}): void {
  const param = normalizeParamName(checkParamName(name, { module }));
  const text = checkValue(module, param, value);
  const path = join(paramsDir(module, opts), param);
  try {
    readOnlyCheck(statSync(path).mode); // a missing parameter is ENOENT: the write must never create a file
    writeFileSync(path, text);
  } catch (e) {
    throw writeError(e, module, param, path);
  }
}

export async function setParameter(module: string, name: string, value: ParamScalar, opts: ParameterOptions = {}): Promise<void> {
  const param = normalizeParamName(checkParamName(name, { module }));
  const text = checkValue(module, param, value);
  const path = join(paramsDir(module, opts), param);
  try {
    readOnlyCheck((await stat(path)).mode); // a missing parameter is ENOENT: the write must never create a file
    await writeFile(path, text);
  } catch (e) {
    throw writeError(e, module, param, path);
  }
}
