// The `.modinfo` section: NUL-terminated `key=value` strings in file order, split exactly as kmod's
// kmod_elf_get_strings does — leading NUL padding skipped, a run of NULs ends one string (alignment
// padding between strings is common), and a final string without its NUL still counts. Repeated keys
// (alias, parm, firmware ...) are all kept, in order.

export interface ModinfoField {
  key: string;
  value: string;
}

const utf8 = new TextDecoder('utf-8');

/** The strings of a NUL-separated string section, as kmod splits them. */
export function splitStrings(b: Uint8Array): string[] {
  const out: string[] = [];
  let i = 0;
  const n = b.length;
  while (i < n && b[i] === 0) i++;
  while (i < n) {
    let e = i;
    while (e < n && b[e] !== 0) e++;
    out.push(utf8.decode(b.subarray(i, e)));
    i = e;
    while (i < n && b[i] === 0) i++;
  }
  return out;
}

/** One modinfo string as kmod's kmod_module_get_info splits it: at the first `=`; no `=` → empty value. */
export function splitField(s: string): ModinfoField {
  const eq = s.indexOf('=');
  return eq === -1 ? { key: s, value: '' } : { key: s.slice(0, eq), value: s.slice(eq + 1) };
}

export function parseModinfoStrings(b: Uint8Array): ModinfoField[] {
  return splitStrings(b).map(splitField);
}
