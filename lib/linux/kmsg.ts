// The kernel log records a load or unload causes, read from /dev/kmsg.
//
// /dev/kmsg hands out one record per read(): `prio,seq,usec,flags[,...];text\n`, then optional
// ` KEY=value` lines. A fresh open starts at the oldest record, and Node has no lseek(SEEK_END), so one
// reader per path is opened once, drained to the end (EAGAIN) once, and kept open: after that, marking
// "now" before a call costs one read that answers EAGAIN, and none when a capture's end read the log to
// its end in the same turn of the event loop (back-to-back calls: a load, then its unload): that end is
// "now", as nothing waited since. Calls running at the same time share the reader: records read while any
// capture is open are kept until the last capture that may want them ends. A capture keeps the records
// with a seq after its mark that belong to its module (see recordsFor). EPIPE means records were
// overwritten before we read them: reading goes on from the oldest one left. When /dev/kmsg cannot be
// opened (not root and kernel.dmesg_restrict=1, no such device), a capture has no records and says why:
// the call itself is never affected.
import { closeSync, constants, openSync, readSync } from 'node:fs';
import { loadNativeBinding } from '../backend/native.js';
import { errnoInfo, LINUX_ERRNO } from '../errno.js';

export type KernelLogLevel = 'emerg' | 'alert' | 'crit' | 'err' | 'warn' | 'notice' | 'info' | 'debug';

/** One kernel log record: its level, sequence number, timestamp (µs since boot) and text. */
export interface KernelLogEntry {
  level: KernelLogLevel;
  seq: number;
  usec: number;
  message: string;
}

const LEVELS: readonly KernelLogLevel[] = ['emerg', 'alert', 'crit', 'err', 'warn', 'notice', 'info', 'debug'];

/** `\xNN` escapes (how /dev/kmsg writes non-printable bytes) back to bytes, read as UTF-8. */
function unescapeKmsg(text: string): string {
  if (!text.includes('\\x')) return text;
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '\\' && text[i + 1] === 'x' && /^[0-9a-fA-F]{2}$/.test(text.slice(i + 2, i + 4))) {
      bytes.push(parseInt(text.slice(i + 2, i + 4), 16));
      i += 3;
    } else {
      bytes.push(...Buffer.from(text[i]!, 'utf8'));
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

const COMMA = 0x2c;
const SEMICOLON = 0x3b;

/**
 * Parses the first line of a /dev/kmsg record, `prio,seq,usec[,flags...];text`, from `start` to `end`
 * (its newline); undefined if malformed. Read character by character, not with a regular expression:
 * it runs after every load and unload, and under emulation this saves ~0.1 ms of each (bench/RESULTS.md).
 */
function parseRecordLine(text: string, start: number, end: number): KernelLogEntry | undefined {
  const header = [0, 0, 0]; // prio, seq, usec
  let i = start;
  for (let field = 0; field < 3; field++) {
    const from = i;
    let value = 0;
    for (let c = text.charCodeAt(i); i < end && c >= 0x30 && c <= 0x39; c = text.charCodeAt(++i)) value = value * 10 + (c - 0x30);
    if (i === from) return undefined;
    header[field] = value;
    const separator = i < end ? text.charCodeAt(i++) : -1;
    if (field === 2 && separator === COMMA) {
      i = text.indexOf(';', i); // the flags, and any fields after them
      if (i === -1 || i >= end) return undefined;
      i++;
    } else if (separator !== (field === 2 ? SEMICOLON : COMMA)) return undefined;
  }
  return { level: LEVELS[header[0]! & 7]!, seq: header[1]!, usec: header[2]!, message: unescapeKmsg(text.slice(i, end)) };
}

/** Parses one /dev/kmsg record (`prio,seq,usec,flags;text`, continuation lines ignored); undefined if malformed. */
export function parseKmsgRecord(record: string): KernelLogEntry | undefined {
  const nl = record.indexOf('\n');
  return parseRecordLine(record, 0, nl === -1 ? record.length : nl);
}

// The module loader's lines that do not name the module (kernel/module/decompress.c).
const UNNAMED_LOADER_LINE = /^(decompression failed with status|inflate error|zstd decompression failed|ZSTD-compressed data is corrupt)/;

/**
 * The records that belong to a call on `module`: the module's own lines (`name: ...`, the kernel's
 * pr_fmt and the loader's lines about it). For a load, also the loader's decompression lines, which
 * name no module (two compressed loads at the same moment would both get them).
 */
export function recordsFor(records: readonly KernelLogEntry[], module: string | undefined, kind: 'load' | 'unload'): KernelLogEntry[] {
  const prefix = module === undefined ? undefined : `${module}: `;
  return records.filter(
    (r) => (prefix !== undefined && r.message.startsWith(prefix)) || (kind === 'load' && UNNAMED_LOADER_LINE.test(r.message)),
  );
}

/** What a capture saw: records since its mark, or why there are none. */
export interface KmsgCaptured {
  records: KernelLogEntry[];
  /** Set when /dev/kmsg could not be read: e.g. 'EPERM: ...'. */
  unavailable?: string;
}

/** A mark in the log: `end()` gives the records after it. */
export interface KmsgCapture {
  end(): Promise<KmsgCaptured>;
  endSync(): KmsgCaptured;
}

const RECORD_BUFFER = 8192; // CONSOLE_EXT_LOG_MAX: a read with a smaller buffer than the record fails
// One readAvailable call reads records until less than one record's room is left of this: the addon's
// kReadAvailableSize is the same, so a read that stopped for room (and not at the log's end) is told apart.
const READ_BUFFER = 8 * RECORD_BUFFER;

/**
 * Reads what a non-blocking fd has now (read after read, while a whole record still fits in READ_BUFFER):
 * the text read (latin1: the device escapes every byte outside printable ASCII), '' when there is nothing,
 * or -errno when the first read failed. EPIPE goes on from the oldest record left.
 */
type ReadAvailable = (fd: number) => string | number;

/** The addon's readAvailable (native/kernmod.cc): no exception per EAGAIN, no Buffer to decode. */
function nativeReadAvailable(): ReadAvailable | undefined {
  try {
    const read = loadNativeBinding().readAvailable;
    return typeof read === 'function' ? read : undefined;
  } catch {
    return undefined; // no addon (the ffi backend): node:fs
  }
}

const fsReadBuffer = Buffer.alloc(READ_BUFFER);

/** The same with node:fs, where the addon is missing: each EAGAIN is a thrown Error. */
export function readAvailableFs(fd: number): string | number {
  const buf = fsReadBuffer;
  let at = 0;
  while (buf.length - at >= RECORD_BUFFER) {
    try {
      const n = readSync(fd, buf, at, buf.length - at, null);
      if (n === 0) break;
      at += n;
    } catch (e) {
      const { code, errno } = e as NodeJS.ErrnoException;
      if (code === 'EAGAIN' || code === 'EWOULDBLOCK') break;
      if (code === 'EPIPE') continue;
      if (at === 0) return typeof errno === 'number' && errno < 0 ? errno : -LINUX_ERRNO.EIO;
      break;
    }
  }
  return buf.toString('latin1', 0, at);
}

function unavailableReason(e: unknown, path: string): string {
  const code = (e as NodeJS.ErrnoException)?.code ?? 'ERROR';
  if (code === 'EPERM' || code === 'EACCES') {
    return `${code}: ${path} is not readable by this process (reading it needs CAP_SYSLOG when kernel.dmesg_restrict=1)`;
  }
  return `${code}: ${path} cannot be read (${(e as Error)?.message ?? String(e)})`;
}

class KmsgReader {
  private fd: number | undefined;
  private unavailable: string | undefined;
  /** Text after the last newline of a read (only a regular file standing in for /dev/kmsg splits records). */
  private partial = '';
  /** Records kept for open captures, in seq order. */
  private kept: KernelLogEntry[] = [];
  private lastSeq = -1;
  private readonly marks = new Map<object, number>(); // capture -> its mark (seq)
  /** A capture's end read the log to its end in this turn of the event loop: a mark needs no read. */
  private endIsNow = false;

  constructor(
    private readonly path: string,
    private readonly readAvailable: ReadAvailable,
  ) {}

  private take(chunk: string): void {
    const text = this.partial + chunk;
    let at = 0;
    for (let nl = text.indexOf('\n'); nl !== -1; nl = text.indexOf('\n', at)) {
      const r = parseRecordLine(text, at, nl);
      at = nl + 1;
      if (r === undefined || r.seq <= this.lastSeq) continue;
      this.lastSeq = r.seq;
      if (this.marks.size > 0) this.kept.push(r);
    }
    this.partial = text.slice(at);
  }

  // A plain fd (not a FileHandle, which is closed when collected), kept for the life of the process. The
  // async form opens it here too: the open is non-blocking (O_NONBLOCK), like the reads below.
  private open(): void {
    if (this.fd !== undefined || this.unavailable !== undefined) return;
    try {
      this.fd = openSync(this.path, constants.O_RDONLY | constants.O_NONBLOCK);
    } catch (e) {
      this.unavailable = unavailableReason(e, this.path);
    }
  }

  /** Reads what the log has now, up to one buffer; false once there is nothing more to read now (or the log failed). */
  private readSome(): boolean {
    const fd = this.fd;
    if (fd === undefined) return false;
    const text = this.readAvailable(fd);
    if (typeof text === 'number') {
      const { code, description } = errnoInfo(text);
      this.fail(Object.assign(new Error(description), { code }));
      return false;
    }
    if (text.length > 0) this.take(text);
    return text.length > READ_BUFFER - RECORD_BUFFER; // stopped for room, not at the end
  }

  private drainSync(): void {
    this.open();
    while (this.readSome());
  }

  // The fd is non-blocking, so a read never waits: like libuv's own socket and pipe reads, it runs on
  // the main thread (a thread-pool round trip per record would cost more than the read). A long
  // backlog — the whole ring on the first drain — is read in batches, yielding to the event loop
  // between them.
  private async drainAsync(): Promise<void> {
    this.open();
    while (this.readSome()) await new Promise<void>((resolve) => setImmediate(resolve));
  }

  /** A read error other than EAGAIN/EPIPE: the log is unavailable from now on. */
  private fail(e: unknown): void {
    this.unavailable = unavailableReason(e, this.path);
    if (this.fd !== undefined) {
      try {
        closeSync(this.fd);
      } catch {
        /* already gone */
      }
      this.fd = undefined;
    }
  }

  private capture(): KmsgCapture {
    const token = {};
    const mark = this.lastSeq;
    if (this.unavailable === undefined) this.marks.set(token, mark);
    // After the log was read to its end: the records since the mark.
    const finish = (): KmsgCaptured => {
      this.reachedEnd();
      const wasOpen = this.marks.delete(token);
      if (this.unavailable !== undefined) return { records: [], unavailable: this.unavailable };
      const records = wasOpen ? this.kept.filter((r) => r.seq > mark) : [];
      this.trim();
      return { records };
    };
    return {
      end: () => this.drainAsync().then(finish),
      endSync: () => {
        this.drainSync();
        return finish();
      },
    };
  }

  // Back-to-back calls read the log's end (EAGAIN) once between them, not twice: one system call less
  // between a load and its unload in the guest bench's cycle (bench/RESULTS.md).
  private reachedEnd(): void {
    if (this.endIsNow) return;
    this.endIsNow = true;
    // The loop does not wait for I/O while an immediate is pending: until it runs, nothing has waited.
    setImmediate(() => {
      this.endIsNow = false;
    }).unref();
  }

  /** Drops the records no open capture can want. */
  private trim(): void {
    if (this.marks.size === 0) {
      this.kept = [];
      return;
    }
    const oldest = Math.min(...this.marks.values());
    const i = this.kept.findIndex((r) => r.seq > oldest);
    this.kept = i === -1 ? [] : this.kept.slice(i);
  }

  beginSync(): KmsgCapture {
    if (!this.endIsNow) this.drainSync();
    return this.capture();
  }

  async begin(): Promise<KmsgCapture> {
    if (!this.endIsNow) await this.drainAsync();
    return this.capture();
  }
}

const readers = new Map<string, KmsgReader>();

/** The shared reader of a kernel log device (default /dev/kmsg; tests pass a file or FIFO). */
export function kmsgReader(path = '/dev/kmsg'): { begin(): Promise<KmsgCapture>; beginSync(): KmsgCapture } {
  let r = readers.get(path);
  if (!r) readers.set(path, (r = new KmsgReader(path, nativeReadAvailable() ?? readAvailableFs)));
  return r;
}
