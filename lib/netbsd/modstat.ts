// The MODCTL_STAT answer, both layouts, decoded (and, for the fake backend, encoded) byte by byte.
// Pure: bytes in, data out. Layouts (research/netbsd-anchors.md §1.3, §1.4, §2.4, §2.5; module.h 1.18,
// 1.41, 1.48; sys_module.c handle_modctl_stat; netbsd32_module.c 1.11):
//
// 'v1' — MODCTL_STAT = 2 on NetBSD 5.0–8.x (MODCTL_OSTAT on 9+ with compat_80): an array of 392-byte
//   records, the same on 32- and 64-bit kernels:
//     0 ms_name[32] · 32 ms_required[320] (comma-separated, NUL-terminated) · 352 ms_addr u64 ·
//     360 ms_source · 364 ms_class · 368 ms_size u32 · 372 ms_refcnt u32 · 376 ms_flags u32 (8.x; was
//     ms_reserved[0], zero, before) · 380 ms_reserved[3].
// 'v2' — MODCTL_STAT = 4 on NetBSD 9.0+: `int ms_cnt` at byte 0, ms_cnt 64-byte records from byte 4 (so
//   ms_addr is misaligned: read with DataView), then a string pool whose byte 0 is NUL:
//     0 ms_name[32] · 32 ms_addr u64 · 40 ms_source · 44 ms_class · 48 ms_size · 52 ms_refcnt ·
//     56 ms_flags · 60 ms_reqoffset (into the pool; 0 = no requirements).
//   The header comment says ms_reqoffset counts "from beginning of iovec buffer!", but the kernel
//   computes it from the start of the pool; that is what is decoded here.
// Fields are in the kernel's byte order (the host's). Builtins on the module_builtins list report
// ms_refcnt = (u_int)-1, decoded as -1 like modstat's "%d".
import { endianness } from 'node:os';
import { KernmodError } from '../errors.js';
import {
  MAXMODDEPS,
  MAXMODNAME,
  MODFLG_AUTO_LOADED,
  MODFLG_MUST_FORCE,
  MODSTAT_V1_SIZE,
  MODSTAT_V2_SIZE,
  MODULE_CLASSES,
  MODULE_SOURCES,
  type ModuleClass,
  type ModuleSourceKind,
} from './constants.js';

/** 'v2': MODCTL_STAT (4), NetBSD 9.0+. 'v1': the 392-byte records of MODCTL_STAT (2) on 5.0–8.x. */
export type ModstatLayout = 'v1' | 'v2';

export interface ModstatFlags {
  /**
   * MODFLG_MUST_FORCE: loading it again needs force. 'unknown' for a disabled builtin (refcnt -1): the
   * kernel copies ms_flags only for live modules (handle_modctl_stat on 8.x, 9.x and 10.x), so the bit
   * it keeps for those (usually set: a builtin that was unloaded needs force) never reaches user space.
   */
  mustForce: boolean | 'unknown';
  /** MODFLG_AUTO_LOADED: the kernel autoloaded it (and may autounload it); false for a disabled builtin. */
  autoLoaded: boolean;
  /** ms_flags as the kernel gave it (other bits, e.g. 9.x's alias flag, are kept here). */
  raw: number;
}

export interface ModstatEntry {
  name: string;
  /** Modules this one requires, in the kernel's order. */
  required: string[];
  source: ModuleSourceKind | 'unknown';
  class: ModuleClass | 'unknown';
  /** Load address; 0 for builtins and for callers not allowed to see kernel addresses. */
  addr: bigint;
  /** Text size in bytes; 0 when unknown or hidden. */
  size: number;
  /** References; -1 for builtins on the kernel's builtin list (disabled or not yet initialised). */
  refcnt: number;
  flags: ModstatFlags;
}

export interface ModstatCodecOptions {
  /** The kernel's byte order; the host's by default (the kernel writes native integers). */
  endian?: 'LE' | 'BE';
}

const V1_REQUIRED_LEN = MAXMODNAME * MAXMODDEPS; // 320

function corrupt(message: string): never {
  throw new KernmodError({ code: 'ERR_KERNMOD_BAD_MODSTAT', phase: 'query', message: `MODCTL_STAT answer rejected: ${message}` });
}

/** A NUL-terminated string inside [start, start + max); undefined when there is no NUL there. */
function cString(bytes: Uint8Array, start: number, max: number): string | undefined {
  const end = Math.min(start + max, bytes.length);
  for (let i = start; i < end; i++) {
    if (bytes[i] === 0) return Buffer.from(bytes.buffer, bytes.byteOffset + start, i - start).toString('utf8');
  }
  return undefined;
}

function splitRequired(list: string): string[] {
  return list === '' ? [] : list.split(',').filter((s) => s !== '');
}

function flagsOf(raw: number, refcnt: number): ModstatFlags {
  if (refcnt === -1) return { mustForce: 'unknown', autoLoaded: false, raw }; // not filled in by the kernel
  return { mustForce: (raw & MODFLG_MUST_FORCE) !== 0, autoLoaded: (raw & MODFLG_AUTO_LOADED) !== 0, raw };
}

/** Decodes one record's fixed fields starting at `o` (the same order in both layouts once past the name). */
function fixed(dv: DataView, le: boolean, addrAt: number, srcAt: number): Omit<ModstatEntry, 'name' | 'required'> {
  const refcnt = dv.getInt32(srcAt + 12, le);
  return {
    addr: dv.getBigUint64(addrAt, le),
    source: MODULE_SOURCES[dv.getUint32(srcAt, le)] ?? 'unknown',
    class: MODULE_CLASSES[dv.getUint32(srcAt + 4, le)] ?? 'unknown',
    size: dv.getUint32(srcAt + 8, le),
    refcnt,
    flags: flagsOf(dv.getUint32(srcAt + 16, le), refcnt),
  };
}

function decodeV1(bytes: Uint8Array, le: boolean): ModstatEntry[] {
  if (bytes.length % MODSTAT_V1_SIZE !== 0) {
    corrupt(`${bytes.length} bytes is not a whole number of ${MODSTAT_V1_SIZE}-byte records (a truncated record)`);
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: ModstatEntry[] = [];
  for (let o = 0; o < bytes.length; o += MODSTAT_V1_SIZE) {
    const n = o / MODSTAT_V1_SIZE;
    const name = cString(bytes, o, MAXMODNAME) ?? corrupt(`record ${n}: ms_name has no NUL within ${MAXMODNAME} bytes`);
    const req = cString(bytes, o + 32, V1_REQUIRED_LEN) ?? corrupt(`record ${n}: ms_required has no NUL within ${V1_REQUIRED_LEN} bytes`);
    out.push({ name, required: splitRequired(req), ...fixed(dv, le, o + 352, o + 360) });
  }
  return out;
}

function decodeV2(bytes: Uint8Array, le: boolean): ModstatEntry[] {
  if (bytes.length < 4) corrupt(`${bytes.length} bytes cannot hold the 4-byte module count`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const count = dv.getInt32(0, le);
  if (count < 0) corrupt(`the module count is negative (${count})`);
  const poolAt = 4 + count * MODSTAT_V2_SIZE;
  if (poolAt > bytes.length) {
    corrupt(`${count} records need ${poolAt} bytes, only ${bytes.length} arrived (a truncated record)`);
  }
  const poolLen = bytes.length - poolAt;
  const out: ModstatEntry[] = [];
  for (let n = 0; n < count; n++) {
    const o = 4 + n * MODSTAT_V2_SIZE;
    const name = cString(bytes, o, MAXMODNAME) ?? corrupt(`record ${n}: ms_name has no NUL within ${MAXMODNAME} bytes`);
    const reqoffset = dv.getUint32(o + 60, le);
    let required: string[] = [];
    if (reqoffset !== 0) {
      if (reqoffset >= poolLen) corrupt(`record ${n} (${name}): ms_reqoffset ${reqoffset} is outside the ${poolLen}-byte string pool`);
      const list = cString(bytes, poolAt + reqoffset, poolLen - reqoffset);
      if (list === undefined)
        corrupt(`record ${n} (${name}): the string at ms_reqoffset ${reqoffset} is not NUL-terminated inside the pool`);
      required = splitRequired(list);
    }
    out.push({ name, required, ...fixed(dv, le, o + 32, o + 40) });
  }
  return out;
}

function littleEndian(options: ModstatCodecOptions): boolean {
  return (options.endian ?? endianness()) === 'LE';
}

/**
 * Decodes what MODCTL_STAT copied out. Every offset is bounds-checked: a truncated record, a name or
 * list without its NUL, or an ms_reqoffset outside the string pool is an ERR_KERNMOD_BAD_MODSTAT error,
 * never a guess. An unknown class or source value decodes as 'unknown' (modstat prints UNKNOWN).
 */
export function decodeModstat(bytes: Uint8Array, layout: ModstatLayout, options: ModstatCodecOptions = {}): ModstatEntry[] {
  const le = littleEndian(options);
  if (layout === 'v1') return decodeV1(bytes, le);
  if (layout === 'v2') return decodeV2(bytes, le);
  throw new TypeError(`unknown modstat layout ${String(layout)}`);
}

// ---- encoding (what the kernel writes; used by the fake backend and round-trip tests) --------------

export interface ModstatRecord {
  name: string;
  required?: readonly string[];
  source: ModuleSourceKind;
  class: ModuleClass;
  addr?: bigint;
  size?: number;
  refcnt: number;
  /** ms_flags bits (MODFLG_*). */
  flags?: number;
}

function putName(buf: Buffer, at: number, s: string, room: number): void {
  // strlcpy: at most room - 1 bytes, always NUL-terminated (the buffer is zero-filled).
  Buffer.from(s, 'utf8')
    .subarray(0, room - 1)
    .copy(buf, at);
}

function putFixed(dv: DataView, le: boolean, r: ModstatRecord, addrAt: number, srcAt: number): void {
  dv.setBigUint64(addrAt, r.addr ?? 0n, le);
  dv.setUint32(srcAt, MODULE_SOURCES.indexOf(r.source), le);
  dv.setUint32(srcAt + 4, MODULE_CLASSES.indexOf(r.class), le);
  dv.setUint32(srcAt + 8, r.size ?? 0, le);
  dv.setInt32(srcAt + 12, r.refcnt, le);
  dv.setUint32(srcAt + 16, r.flags ?? 0, le);
}

/**
 * The bytes the kernel would copy out for these records, untruncated: 'v1' as 5.0–8.x's
 * handle_modctl_stat (required list strlcpy'd into 320 bytes), 'v2' as 9.0+'s (count, records, pool).
 */
export function encodeModstat(records: readonly ModstatRecord[], layout: ModstatLayout, options: ModstatCodecOptions = {}): Uint8Array {
  const le = littleEndian(options);
  if (layout === 'v1') {
    const buf = Buffer.alloc(records.length * MODSTAT_V1_SIZE);
    const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    records.forEach((r, n) => {
      const o = n * MODSTAT_V1_SIZE;
      putName(buf, o, r.name, MAXMODNAME);
      putName(buf, o + 32, (r.required ?? []).join(','), V1_REQUIRED_LEN);
      putFixed(dv, le, r, o + 352, o + 360);
    });
    return buf;
  }
  const lists = records.map((r) => (r.required && r.required.length > 0 ? Buffer.from(`${r.required.join(',')}\0`, 'utf8') : null));
  const poolLen = 1 + lists.reduce((s, l) => s + (l?.length ?? 0), 0);
  const poolAt = 4 + records.length * MODSTAT_V2_SIZE;
  const buf = Buffer.alloc(poolAt + poolLen);
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  dv.setInt32(0, records.length, le);
  let off = 1; // pool byte 0 stays NUL, so offset 0 can mean "none"
  records.forEach((r, n) => {
    const o = 4 + n * MODSTAT_V2_SIZE;
    putName(buf, o, r.name, MAXMODNAME);
    putFixed(dv, le, r, o + 32, o + 40);
    const list = lists[n];
    if (list) {
      list.copy(buf, poolAt + off);
      dv.setUint32(o + 60, off, le);
      off += list.length;
    }
  });
  return buf;
}
