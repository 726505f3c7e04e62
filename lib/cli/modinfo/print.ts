// `kernmod modinfo` over its arguments, printed in argument order. When the liblzma addon is there, the
// module files among them are read (the .ko.xz decoded) on the thread pool a few batches ahead
// (prefetch.ts) while the main thread parses and prints: that puts every core on opening, reading and
// decoding in one Node instance (worker threads, a second instance each, cost more than they gave
// under emulation).
import { poolXzDecoder } from '../../backend/native-xz.js';
import { ModulePrefetcher } from './prefetch.js';
import { ModinfoRunner, type ModinfoOutput, type ModinfoSettings } from './run.js';
import type { Io } from '../output.js';

export interface PrintOptions {
  /**
   * Batches of module files read ahead on the thread pool, at most this many at once; 0: never. Default:
   * KERNMOD_MODINFO_DECODE_AHEAD, else one per core plus one.
   */
  decodeAhead?: number;
}

/**
 * Writes to the terminal: stdout buffered, and flushed every 256 KiB and before every stderr message
 * (so that where both go to one file, each error follows the output printed before it); --json items
 * collected and printed at the end as one value (an object for a single module, else an array).
 */
export class ModinfoPrinter implements ModinfoOutput {
  private buffer = '';
  private items: string[] = [];
  status: 0 | 1 = 0;

  constructor(
    private readonly io: Io,
    private readonly json: boolean,
  ) {}

  out(s: string): void {
    this.buffer += s;
    if (this.buffer.length > 1 << 18) this.flush();
  }

  err(s: string): void {
    if (s === '') return;
    this.flush();
    this.io.err(s);
  }

  item(value: unknown): void {
    this.items.push(JSON.stringify(value, null, 2));
  }

  fail(): void {
    this.status = 1;
  }

  finish(): void {
    this.flush();
    if (!this.json) return;
    // JSON.stringify(items, null, 2) without parsing the items back: each one indented one level.
    if (this.items.length === 1) this.io.out(`${this.items[0]}\n`);
    else if (this.items.length === 0) this.io.out('[]\n');
    else this.io.out(`[\n  ${this.items.map((s) => s.replaceAll('\n', '\n  ')).join(',\n  ')}\n]\n`);
  }

  private flush(): void {
    if (this.buffer) this.io.out(this.buffer);
    this.buffer = '';
  }
}

/**
 * Batches in flight on the pool: KERNMOD_MODINFO_DECODE_AHEAD, else one per core and four more, because
 * opening files waits on the file system more than on a core (6.1 guest, 2 vCPUs: 38 s against 76 s with 3).
 */
function defaultDecodeAhead(): number {
  const env = process.env.KERNMOD_MODINFO_DECODE_AHEAD;
  if (env !== undefined && /^\d+$/.test(env)) return Number(env);
  return process.getBuiltinModule('node:os').availableParallelism() + 4;
}

/**
 * The pool prefetcher, unless nothing is read (names, -n), there is one argument (nothing to read ahead of:
 * loading the addon for it cost more than the start-up target allows) or the addon is missing.
 */
function modulePrefetcher(args: readonly string[], settings: ModinfoSettings, opts: PrintOptions): ModulePrefetcher | undefined {
  const depth = opts.decodeAhead ?? defaultDecodeAhead();
  if (depth === 0 || args.length < 2 || settings.modname || (settings.field === 'filename' && !settings.json)) return undefined;
  const decoder = poolXzDecoder();
  // A pool thread per batch in flight (libuv has 4 unless told; it reads this when its pool starts).
  process.env.UV_THREADPOOL_SIZE ??= String(depth);
  return decoder && new ModulePrefetcher(args, decoder, depth);
}

/** Prints modinfo for every argument, in order; returns the exit status. */
export async function printModinfo(args: readonly string[], settings: ModinfoSettings, io: Io, opts: PrintOptions = {}): Promise<number> {
  const printer = new ModinfoPrinter(io, settings.json);
  await new ModinfoRunner(settings).run(args, printer, modulePrefetcher(args, settings, opts));
  printer.finish();
  return printer.status;
}
