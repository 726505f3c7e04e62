// What `kernmod modinfo` prints for one module: kmod 30's text (tools/modinfo.c modinfo_do) — `filename:`
// first (after `name:` for a builtin), then the module's strings with the value at column 16 — printf
// `%s:%-*s%s` with width 15 - strlen(key), whose sign flips to padding for keys past 15 characters —
// then the signature fields, then the merged parameters in kmod's reverse order; or, for --json, the
// library's object. Pure: a ModuleInfo in, text out. This runs once per module over whole trees, so it
// avoids building intermediate lists.
import type { ModuleInfo } from '../../elf/modinfo.js';

export interface FormatOptions {
  /** -F: print only this field's values. */
  field?: string;
  /** -0: NUL instead of newline. */
  nul?: boolean;
}

/** Per byte value, its two uppercase hex digits as ASCII codes. */
const HEX_DIGITS = Buffer.from(Array.from({ length: 256 }, (_, i) => i.toString(16).toUpperCase().padStart(2, '0')).join(''), 'latin1');
let hexScratch = Buffer.alloc(0);

/** kmod's hex layout: uppercase, ':'-separated, a line break and two tabs after every 20 bytes. */
export function kmodHex(bytes: Uint8Array, wrap = true): string {
  const n = bytes.length;
  if (n === 0) return '';
  // Written as bytes and decoded once: a 512-byte signature is 1,500 characters, in every module.
  const length = n * 3 - 1 + (wrap ? Math.floor((n - 1) / 20) * 3 : 0);
  if (hexScratch.length < length) hexScratch = Buffer.alloc(Math.max(length, 4096));
  const out = hexScratch;
  let o = 0;
  for (let i = 0; i < n; i++) {
    const b = bytes[i]! * 2;
    out[o++] = HEX_DIGITS[b]!;
    out[o++] = HEX_DIGITS[b + 1]!;
    if (i < n - 1) {
      out[o++] = 0x3a; // ':'
      if (wrap && (i + 1) % 20 === 0) {
        out[o++] = 0x0a; // '\n'
        out[o++] = 0x09; // '\t'
        out[o++] = 0x09;
      }
    }
  }
  return out.toString('latin1', 0, o);
}

function forEachSignatureEntry(info: ModuleInfo, fn: (key: string, value: string) => void): void {
  const sig = info.signature;
  if (!sig) return;
  fn('sig_id', sig.id);
  fn('signer', sig.signer);
  fn('sig_key', kmodHex(sig.keyId));
  fn('sig_hashalgo', sig.hashAlgo);
  fn('signature', kmodHex(sig.signature));
}

// The same few dozen keys recur in every module, so their padded labels are made once.
const labels = new Map<string, string>();

/** `key:` padded as printf("%s:%-*s", key, 15 - len, "") pads it: a negative width left-justifies with |width|. */
function label(key: string): string {
  let l = labels.get(key);
  if (l === undefined) {
    l = `${key}:${' '.repeat(Math.abs(15 - Buffer.byteLength(key)))}`;
    if (labels.size < 4096) labels.set(key, l);
  }
  return l;
}

const col16 = (label: string) => label.padEnd(16, ' ');
const NAME_LABEL = col16('name:');
const FILENAME_LABEL = col16('filename:');
const PARM_LABEL = col16('parm:');

/** The `name:`/`filename:` lines kmod prints before it reads a module (so also when the read fails). */
export function formatHeader(name: string, filename: string, builtin: boolean, opts: FormatOptions = {}): string {
  const sep = opts.nul ? '\0' : '\n';
  const field = opts.field;
  let out = '';
  if (builtin) {
    if (field === undefined) out += `${NAME_LABEL}${name}${sep}`;
    else if (field === 'name') out += `${name}${sep}`;
  }
  if (field === undefined || field === 'filename') out += field === undefined ? `${FILENAME_LABEL}${filename}${sep}` : `${filename}${sep}`;
  return out;
}

/** One module's output, exactly as kmod 30's modinfo_do prints it. */
export function formatModinfo(info: ModuleInfo, opts: FormatOptions = {}): string {
  const sep = opts.nul ? '\0' : '\n';
  const field = opts.field;
  let out = formatHeader(info.name, info.builtin ? '(builtin)' : (info.filename ?? ''), info.builtin, opts);
  if (field === 'filename') return out;

  if (field === 'parm') {
    for (const p of info.params) {
      if (p.description === undefined) out += `${p.name}: (${p.type ?? ''})${sep}`;
      else if (p.type !== undefined) out += `${p.name}:${p.description} (${p.type})${sep}`;
      else out += `${p.name}:${p.description}${sep}`;
    }
    return out;
  }
  if (field !== undefined) {
    for (const f of info.fields) if (f.key === field) out += `${f.value}${sep}`;
    forEachSignatureEntry(info, (key, value) => {
      if (key === field) out += `${value}${sep}`;
    });
    return out;
  }
  const entry = opts.nul
    ? (key: string, value: string) => `${key}=${value}${sep}`
    : (key: string, value: string) => `${label(key)}${value}${sep}`;
  for (const { key, value } of info.fields) {
    if (key === 'parm' || key === 'parmtype') continue;
    out += entry(key, value);
  }
  forEachSignatureEntry(info, (key, value) => {
    out += entry(key, value);
  });
  for (const p of info.params) {
    if (p.description === undefined) out += `${PARM_LABEL}${p.name}:${p.type ?? ''}${sep}`;
    else if (p.type !== undefined) out += `${PARM_LABEL}${p.name}:${p.description} (${p.type})${sep}`;
    else out += `${PARM_LABEL}${p.name}:${p.description}${sep}`;
  }
  return out;
}

/** kmod's "Found invalid ..." lines for parm strings without ':' (printed while formatting). */
export function invalidParmLines(info: ModuleInfo): string {
  let s = '';
  for (const f of info.fields) {
    if ((f.key === 'parm' || f.key === 'parmtype') && !f.value.includes(':'))
      s += `modinfo: ERROR: Found invalid "${f.key}=${f.value}": missing ':'\n`;
  }
  return s;
}

/** A module as JSON: bytes as kmod-style hex (one line), bigints as decimal strings. */
export function modinfoJson(info: ModuleInfo): Record<string, unknown> {
  const o: Record<string, unknown> = { ...info };
  if (info.signature) {
    o.signature = { ...info.signature, keyId: kmodHex(info.signature.keyId, false), signature: kmodHex(info.signature.signature, false) };
  }
  o.versions = info.versions.map((v) => ({ crc: typeof v.crc === 'bigint' ? v.crc.toString() : v.crc, symbol: v.symbol }));
  return o;
}
