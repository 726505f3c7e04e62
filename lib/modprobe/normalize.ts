// Name and alias normalisation exactly as kmod does it (shared/util.c). Module names and aliases use
// `_` where people type `-`, except inside a `[...]` range, where `-` means a range. Pure.

/**
 * kmod's alias_normalize(): `-` becomes `_` outside `[...]`; an unmatched `]` or an unterminated `[`
 * makes the alias invalid (undefined). Applied to what the user asks modprobe for, by depmod to
 * the keys of modules.alias.bin, and (as kmod's underscores(), the same rule) to the names in
 * modprobe.d lines, where an unmatched bracket makes the line a bad line.
 */
export function normalizeAlias(alias: string): string | undefined {
  let out = '';
  for (let i = 0; i < alias.length; i++) {
    const c = alias[i]!;
    if (c === '-') out += '_';
    else if (c === ']') return undefined;
    else if (c === '[') {
      const close = alias.indexOf(']', i);
      if (close === -1) return undefined;
      out += alias.slice(i, close + 1);
      i = close;
    } else out += c;
  }
  return out;
}

// Module names (modname_normalize, path_to_modname) are normalised by ../names.ts.
export { normalizeModuleName as normalizeModname, moduleNameFromPath as modnameFromPath } from '../names.js';
