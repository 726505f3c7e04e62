// Modules built into the kernel image, from the files kbuild installs beside the loadable ones:
//  - `modules.builtin`: one path per line (`kernel/mm/zswap.ko`), the builtin modules' names;
//  - `modules.builtin.modinfo` (Linux ≥ 5.2): the builtins' .modinfo strings, NUL-separated, each
//    prefixed with its module's name: `zswap.description=Compressed cache for swap pages`.
// Lookups follow kmod's libkmod-builtin.c: a module's strings are the first contiguous run carrying its
// prefix, and a string without any `modname.` prefix makes the file invalid.
import { invalidInput } from '../errors.js';
import { normalizeModuleName } from '../names.js';
import { splitField, type ModinfoField } from './strings.js';

export interface BuiltinEntry {
  /** The normalised module name (`amd_uncore`). */
  name: string;
  /** The path as listed (`kernel/arch/x86/events/amd/amd-uncore.ko`). */
  path: string;
}

/** Parses `modules.builtin`: blank lines skipped; each name is the path's basename, normalised like kmod. */
export function parseModulesBuiltin(text: string): BuiltinEntry[] {
  const out: BuiltinEntry[] = [];
  for (const line of text.split('\n')) {
    const path = line.trim();
    if (!path) continue;
    out.push({ name: normalizeModuleName(path.slice(path.lastIndexOf('/') + 1)), path });
  }
  return out;
}

const utf8 = (b: Uint8Array, s: number, e: number) => Buffer.from(b.buffer, b.byteOffset + s, e - s).toString('utf8');

/**
 * The modinfo fields of builtin module `name` from `modules.builtin.modinfo` bytes, in file order, or
 * undefined when it has none. Throws ERR_KERNMOD_BAD_BUILTIN_MODINFO, as kmod fails with EINVAL, when a
 * string before the end of the module's run has no `modname.` prefix.
 */
export function builtinModinfo(bytes: Uint8Array, name: string): ModinfoField[] | undefined {
  const prefix = Buffer.from(`${name}.`, 'utf8');
  const out: ModinfoField[] = [];
  let i = 0;
  const n = bytes.length;
  while (i < n) {
    let e = bytes.indexOf(0, i);
    if (e === -1) e = n;
    // kmod reads each string with getdelim(): an empty one has no '.', which is an error.
    if (bytes.subarray(i, e).indexOf(0x2e) === -1) {
      throw invalidInput('ERR_KERNMOD_BAD_BUILTIN_MODINFO', `modules.builtin.modinfo: string at byte ${i} has no "module." prefix`, { errno: -22 });
    }
    let match = e - i >= prefix.length;
    for (let k = 0; match && k < prefix.length; k++) if (bytes[i + k] !== prefix[k]) match = false;
    if (match) out.push(splitField(utf8(bytes, i + prefix.length, e)));
    else if (out.length > 0) break; // the module's run is over
    i = e + 1;
  }
  return out.length > 0 ? out : undefined;
}

/** Every builtin module's `alias=` values, for alias lookups (kmod: modules.builtin.alias.bin). */
export function builtinAliases(bytes: Uint8Array): Array<{ pattern: string; module: string }> {
  const out: Array<{ pattern: string; module: string }> = [];
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('utf8');
  for (const s of text.split('\0')) {
    const dot = s.indexOf('.');
    if (dot === -1 || !s.startsWith('alias=', dot + 1)) continue;
    out.push({ module: s.slice(0, dot), pattern: s.slice(dot + 7) });
  }
  return out;
}
