// The kernel log records a load or unload causes, read from /dev/kmsg.
//
// /dev/kmsg hands out one record per read(): `prio,seq,usec,flags[,...];text\n`, then optional
// ` KEY=value` lines. A fresh open starts at the oldest record, and Node has no lseek(SEEK_END), so one
// reader per path is opened once, drained to the end (EAGAIN) once, and kept open: after that, marking
// "now" before a call costs one read that answers EAGAIN, and none when a capture's end read the log to
// its end in the same turn of the event loop (back-to-back calls: a load, then its unload): that end is
// "now", as nothing waited since. Calls running at the same time share the
// reader: records read while any capture is open are kept until the last capture that may want them
// ends. A capture keeps the records with a seq after its mark that belong to its module (see
// recordsFor). EPIPE means records were overwritten before we read them: reading goes on from the
// oldest one left. When /dev/kmsg cannot be opened (not root and
// kernel.dmesg_restrict=1, no such device), a capture has no records and says why: the call itself
// is never affected.
import { closeSync, constants, open, openSync, readSync } from 'node:fs';

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

/** Parses one /dev/kmsg record (`prio,seq,usec,flags;text`, continuation lines ignored); undefined if malformed. */
export function parseKmsgRecord(record: string): KernelLogEntry | undefined {
  const semi = record.indexOf(';');
  if (semi === -1) return undefined;
  const fields = record.slice(0, semi).split(',');
  if (fields.length < 3 || !fields.slice(0, 3).every((f) => /^\d+$/.test(f))) return undefined;
  const nl = record.indexOf('\n', semi);
  const text = record.slice(semi + 1, nl === -1 ? undefined : nl);
  return { level: LEVELS[Number(fields[0]) & 7]!, seq: Number(fields[1]), usec: Number(fields[2]), message: unescapeKmsg(text) };
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
const READ_BATCH = 64; // records read per turn of the event loop by the async form

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
  private opening: Promise<void> | undefined;
  private readonly buf = Buffer.alloc(RECORD_BUFFER);
  /** Text after the last newline of a read (only a regular file standing in for /dev/kmsg splits records). */
  private partial = '';
  /** Records kept for open captures, in seq order. */
  private kept: KernelLogEntry[] = [];
  private lastSeq = -1;
  private readonly marks = new Map<object, number>(); // capture -> its mark (seq)
  /** A capture's end read the log to its end in this turn of the event loop: a mark needs no read. */
  private endIsNow = false;

  constructor(private readonly path: string) {}

  private take(chunk: string): void {
    const text = this.partial + chunk;
    const end = text.lastIndexOf('\n');
    this.partial = end === -1 ? text : text.slice(end + 1);
    if (end === -1) return;
    for (const line of text.slice(0, end).split('\n')) {
      if (line === '' || line.startsWith(' ')) continue; // ` KEY=value` continuation lines
      const r = parseKmsgRecord(line);
      if (r === undefined || r.seq <= this.lastSeq) continue;
      this.lastSeq = r.seq;
      if (this.marks.size > 0) this.kept.push(r);
    }
  }

  /** 'more': a record was read; 'end': nothing more now (EAGAIN, or EOF of a stand-in file). */
  private handle(err: NodeJS.ErrnoException | null, n: number, buf: Buffer): 'more' | 'end' {
    if (err) {
      if (err.code === 'EPIPE') return 'more'; // overwritten before we read them: go on from the oldest left
      if (err.code === 'EAGAIN' || err.code === 'EWOULDBLOCK') return 'end';
      throw err;
    }
    if (n === 0) return 'end';
    this.take(buf.toString('utf8', 0, n));
    return 'more';
  }

  private openSync(): void {
    if (this.fd !== undefined || this.unavailable !== undefined) return;
    try {
      this.fd = openSync(this.path, constants.O_RDONLY | constants.O_NONBLOCK);
    } catch (e) {
      this.unavailable = unavailableReason(e, this.path);
    }
  }

  private openAsync(): Promise<void> {
    if (this.fd !== undefined || this.unavailable !== undefined) return Promise.resolve();
    return (this.opening ??= new Promise<void>((resolve) => {
      // A plain fd (not a FileHandle, which is closed when collected), kept for the life of the process.
      open(this.path, constants.O_RDONLY | constants.O_NONBLOCK, (e, fd) => {
        if (e) this.unavailable ??= unavailableReason(e, this.path);
        else if (this.fd === undefined) this.fd = fd;
        else closeSync(fd);
        resolve();
      });
    }));
  }

  /** Reads up to `max` records; false once there is nothing more to read now (or the log failed). */
  private readSome(max: number): boolean {
    const fd = this.fd;
    if (fd === undefined) return false;
    try {
      for (let i = 0; i < max; i++) {
        let n = 0;
        let err: NodeJS.ErrnoException | null = null;
        try {
          n = readSync(fd, this.buf, 0, RECORD_BUFFER, null);
        } catch (e) {
          err = e as NodeJS.ErrnoException;
        }
        if (this.handle(err, n, this.buf) === 'end') return false;
      }
      return true;
    } catch (e) {
      this.fail(e);
      return false;
    }
  }

  private drainSync(): void {
    this.openSync();
    while (this.readSome(Infinity));
  }

  // The fd is non-blocking, so a read never waits: like libuv's own socket and pipe reads, it runs on
  // the main thread (a thread-pool round trip per record would cost more than the read). A long
  // backlog — the whole ring on the first drain — is read in batches, yielding to the event loop
  // between them.
  private async drainAsync(): Promise<void> {
    await this.openAsync();
    while (this.readSome(READ_BATCH)) await new Promise<void>((resolve) => setImmediate(resolve));
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
    const finish = (): KmsgCaptured => {
      const wasOpen = this.marks.delete(token);
      if (this.unavailable !== undefined) return { records: [], unavailable: this.unavailable };
      const records = wasOpen ? this.kept.filter((r) => r.seq > mark) : [];
      this.trim();
      return { records };
    };
    return {
      end: () =>
        this.drainAsync().then(() => {
          this.reachedEnd();
          return finish();
        }),
      endSync: () => {
        this.drainSync();
        this.reachedEnd();
        return finish();
      },
    };
  }

  // A read that finds the log's end fails (EAGAIN), and node:fs throws it as an Error: back-to-back calls
  // read the end once between them, not twice, which took more than half off the load+unload cycle's
  // capture cost in the guest bench (bench/RESULTS.md).
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
  if (!r) readers.set(path, (r = new KmsgReader(path)));
  return r;
}
