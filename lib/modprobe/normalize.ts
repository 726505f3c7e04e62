// Alias normalisation exactly as kmod does it (shared/util.c): `_` where people type `-`, except inside a
// `[...]` range, where `-` means a range. Pure. Module names are normalised by ../names.ts.

/**
 * kmod's alias_normalize(): `-` becomes `_` outside `[...]`; an unmatched `]` or an unterminated `[`
 * makes the alias invalid (undefined). Applied to what the user asks modprobe for, by depmod to
 * the keys of modules.alias.bin, and (as kmod's underscores(), the same rule) to the names in
 * modprobe.d lines, where an unmatched bracket makes the line a bad line.
 */
export function normalizeAlias(alias: string): string | undefined {
  // Copies the runs between dashes whole, not a character at a time: depmod normalizes every alias of
  // a tree (27,000 on Debian's 6.12), and this was a third of the time it spends writing the indexes.
  let out = '';
  let from = 0; // alias[from..i) is still to be copied
  for (let i = 0; i < alias.length; i++) {
    const c = alias.charCodeAt(i);
    if (c === DASH) {
      out += `${alias.slice(from, i)}_`;
      from = i + 1;
    } else if (c === CLOSE) return undefined;
    else if (c === OPEN) {
      i = alias.indexOf(']', i); // a range is kept as written
      if (i === -1) return undefined;
    }
  }
  return from === 0 ? alias : out + alias.slice(from);
}

const DASH = 0x2d;
const OPEN = 0x5b;
const CLOSE = 0x5d;
