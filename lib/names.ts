// Module names as the kernel and kmod see them.
import { invalidInput } from './errors.js';

/** Extensions kmod recognises for module files, longest first. */
export const MODULE_EXTENSIONS = ['.ko.zst', '.ko.xz', '.ko.gz', '.ko'] as const;

/** kmod's modname_normalize: `-` becomes `_`, and the name stops at the first `.`. */
export function normalizeModuleName(name: string): string {
  const dot = name.indexOf('.');
  const base = dot === -1 ? name : name.slice(0, dot);
  return base.indexOf('-') === -1 ? base : base.replaceAll('-', '_');
}

/** The module name kmod derives from a file path: its basename without extension, normalised. */
export function moduleNameFromPath(path: string): string {
  return normalizeModuleName(path.slice(path.lastIndexOf('/') + 1));
}

/**
 * Checks a name before an unload call: a string, not empty, no NUL or `/`, and shorter than `limit`
 * bytes (the kernel's buffer, which counts the NUL; 0 when unknown skips that check). The kernel would
 * refuse a bad name with a bare errno; we say what is wrong. `tooLongNote` ends the too-long message.
 */
export function validateModuleName(name: unknown, limit: number, tooLongNote = ''): string {
  if (typeof name !== 'string') throw invalidInput('ERR_KERNMOD_INVALID_NAME', `module name must be a string, got ${typeof name}`);
  if (name.length === 0) throw invalidInput('ERR_KERNMOD_INVALID_NAME', 'module name is empty');
  if (name.includes('\0'))
    throw invalidInput('ERR_KERNMOD_INVALID_NAME', `module name ${JSON.stringify(name)} contains NUL`, { module: name });
  if (name.includes('/')) {
    throw invalidInput('ERR_KERNMOD_INVALID_NAME', `module name ${JSON.stringify(name)} contains / (pass the module name, not a path)`, {
      module: name,
    });
  }
  const bytes = Buffer.byteLength(name, 'utf8');
  if (limit > 0 && bytes >= limit) {
    const message = `module name ${JSON.stringify(name)} is ${bytes} bytes; the kernel's limit is ${limit - 1}${tooLongNote}`;
    throw invalidInput('ERR_KERNMOD_INVALID_NAME', message, { module: name });
  }
  return name;
}
