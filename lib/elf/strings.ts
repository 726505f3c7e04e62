// The `.modinfo` section: NUL-terminated `key=value` strings in file order, split exactly as kmod's
// kmod_elf_get_strings does — leading NUL padding skipped, a run of NULs ends one string (alignment
// padding between strings is common), and a final string without its NUL still counts. Repeated keys
// (alias, parm, firmware ...) are all kept, in order.

export interface ModinfoField {
  key: string;
  value: string;
}

// ignoreBOM: a string that starts with EF BB BF keeps it, as kmod prints the bytes it finds.
const utf8 = new TextDecoder('utf-8', { ignoreBOM: true });

/** The strings of a NUL-separated string section, as kmod splits them. */
export function splitStrings(b: Uint8Array): string[] {
  // One decode for the whole section: NUL is a byte of its own in UTF-8 (it ends any incomplete
  // sequence before it), so splitting the text at U+0000 gives what decoding each string would.
  const pieces = utf8.decode(b).split('\0');
  const out: string[] = [];
  for (const p of pieces) if (p !== '') out.push(p);
  return out;
}

/** One modinfo string as kmod's kmod_module_get_info splits it: at the first `=`; no `=` → empty value. */
export function splitField(s: string): ModinfoField {
  const eq = s.indexOf('=');
  return eq === -1 ? { key: s, value: '' } : { key: s.slice(0, eq), value: s.slice(eq + 1) };
}

export function parseModinfoStrings(b: Uint8Array): ModinfoField[] {
  const out = splitStrings(b) as unknown as ModinfoField[];
  for (let i = 0; i < out.length; i++) out[i] = splitField(out[i] as unknown as string);
  return out;
}
