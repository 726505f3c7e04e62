// `kernmod modinfo` over many arguments on every core. The arguments are cut into runs of RUN_SIZE; the
// main thread and worker threads (modinfo-worker.ts) take the next run from a shared counter until none
// is left, each doing the whole job for its run (stat, read, decompress, parse, format) synchronously,
// and the main thread prints the runs' output strictly in argument order as they come in. Taking runs
// on demand balances the load however uneven the modules are (one .ko.xz may take 100 times longer than
// another), and the main thread works from the start, so a worker's start-up is never waited for: a
// worker that has not started when the last run is printed is simply stopped. If a worker dies, the
// runs it had taken are done again by the main thread, so output never depends on the threads.
//
// When most arguments are .ko.xz there are no worker threads: liblzma is then most of the work, and the
// main thread decodes them ahead in batches on the libuv thread pool (modinfo-prefetch.ts) while it
// parses and prints. Measured in a 6.12 guest under TCG (whole tree, 4,230 .ko.xz): 66 s against 77 s
// with a worker thread, which is a second Node instance competing for the same two vCPUs.
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { ModinfoSettings, RunOutput } from './modinfo-run.js';
import { XzPrefetcher, XZ_MODULE_EXTENSION } from './modinfo-prefetch.js';
import { installModinfoXz, modinfoPoolDecoder } from './modinfo-xz.js';
import type { Io } from './output.js';

/**
 * Arguments per run: small enough that the last runs spread evenly over the threads, large enough that
 * a run's message and the main thread's pause between its own runs cost little next to the work.
 */
export const RUN_SIZE = 16;

/**
 * Fewer arguments than this are not worth a worker: starting one (a Node isolate, then loading the
 * modinfo code into it) costs as much as a few dozen modules.
 */
export const PARALLEL_MIN_ARGS = 48;

/** What a worker thread is given (workerData). */
export interface WorkerTask {
  args: string[];
  settings: ModinfoSettings;
  runSize: number;
  /** One Int32: the index of the next run to take, shared by all threads. */
  next: SharedArrayBuffer;
}

/** What a worker thread sends back, once per run. */
export interface RunMessage {
  run: number;
  output: RunOutput;
}

export interface PrintOptions {
  /** Worker threads besides the main thread; default: one per extra core, none for few arguments. */
  workers?: number;
  runSize?: number;
  /** The worker script (tests); default: modinfo-worker.js beside this module. */
  workerUrl?: URL;
  /**
   * Batches of .ko.xz decoded ahead on the thread pool, at most this many at once, when most arguments
   * are .ko.xz (then no worker threads); 0: never. Default: KERNMOD_MODINFO_DECODE_AHEAD, else one per
   * core plus one.
   */
  decodeAhead?: number;
}

/** The arguments of run `i`. */
export function runArgs(args: readonly string[], runSize: number, i: number): string[] {
  return args.slice(i * runSize, (i + 1) * runSize);
}

/** Takes the next run from the shared counter: its index, or undefined when every run is taken. */
export function claimRun(next: Int32Array, runs: number): number | undefined {
  const i = Atomics.add(next, 0, 1);
  return i < runs ? i : undefined;
}

const nextTick = () => new Promise<void>((resolve) => setImmediate(resolve));

/** A worker thread's whole life: take runs until none is left, sending each one's output. */
export async function workerLoop(task: WorkerTask, send: (m: RunMessage) => void): Promise<void> {
  const { ModinfoRunner } = await import('./modinfo-run.js');
  const runner = new ModinfoRunner(task.settings);
  const next = new Int32Array(task.next);
  const runs = Math.ceil(task.args.length / task.runSize);
  for (let i = claimRun(next, runs); i !== undefined; i = claimRun(next, runs)) {
    send({ run: i, output: await runner.run(runArgs(task.args, task.runSize, i)) });
  }
}

/**
 * Writes runs' output to the terminal in the order given: stdout buffered, and flushed every 256 KiB
 * and before every stderr message (so that where both go to one file, each error follows the output
 * printed before it); --json items collected and printed at the end as one value (an object for a
 * single module, else an array).
 */
export class ModinfoPrinter {
  private buffer = '';
  private items: string[] = [];
  status = 0;

  constructor(
    private readonly io: Io,
    private readonly json: boolean,
  ) {}

  add(o: RunOutput): void {
    this.status |= o.status;
    if (this.json) {
      for (const item of o.json) this.items.push(item);
      return;
    }
    const t = o.texts;
    for (let i = 0; i < t.length; i++) {
      if (i % 2 === 1) {
        this.flush();
        this.io.err(t[i]!);
        continue;
      }
      this.buffer += t[i]!;
      if (this.buffer.length > 1 << 18) this.flush();
    }
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

const WORKER_URL = new URL('./modinfo-worker.js', import.meta.url);

/** Worker threads to start: KERNMOD_MODINFO_THREADS (a count of workers), else one per extra core. */
function defaultWorkers(argCount: number): number {
  const env = process.env.KERNMOD_MODINFO_THREADS;
  if (env !== undefined && /^\d+$/.test(env)) return Number(env);
  // Node runs no TypeScript in a worker: from the sources (tests), the main thread does it all.
  if (!import.meta.url.endsWith('.js')) return 0;
  return argCount < PARALLEL_MIN_ARGS ? 0 : availableParallelism() - 1;
}

/**
 * Batches in flight for pool decoding: KERNMOD_MODINFO_DECODE_AHEAD, else one per core and one more,
 * so that a pool thread still has work while the main thread holds a decoded batch it is printing.
 */
function defaultDecodeAhead(): number {
  const env = process.env.KERNMOD_MODINFO_DECODE_AHEAD;
  if (env !== undefined && /^\d+$/.test(env)) return Number(env);
  return availableParallelism() + 1;
}

/**
 * The pool prefetcher for this command, when it pays: most arguments are .ko.xz files to read (not
 * names, not -n, which reads nothing) and the liblzma addon can decode on the pool.
 */
function xzPrefetcher(args: readonly string[], settings: ModinfoSettings, opts: PrintOptions): XzPrefetcher | undefined {
  const depth = opts.decodeAhead ?? defaultDecodeAhead();
  if (depth === 0 || settings.modname || (settings.field === 'filename' && !settings.json)) return undefined;
  let xz = 0;
  for (const a of args) if (a.endsWith(XZ_MODULE_EXTENSION)) xz++;
  if (xz * 2 < args.length) return undefined;
  installModinfoXz();
  const decoder = modinfoPoolDecoder();
  return decoder && new XzPrefetcher(args, decoder, depth);
}

/**
 * Prints modinfo for every argument, in order, decoding .ko.xz on the thread pool when they are most of
 * the arguments, else using worker threads when there are many; returns the exit status.
 */
export async function printModinfo(args: string[], settings: ModinfoSettings, io: Io, opts: PrintOptions = {}): Promise<number> {
  const printer = new ModinfoPrinter(io, settings.json);
  const runSize = opts.runSize ?? RUN_SIZE;
  const runs = Math.ceil(args.length / runSize);
  const next = new Int32Array(new SharedArrayBuffer(4));
  const prefetch = xzPrefetcher(args, settings, opts);
  const wanted = prefetch ? 0 : Math.min(opts.workers ?? defaultWorkers(args.length), runs - 1);

  const done = new Map<number, RunOutput>();
  let printed = 0;
  let settle: () => void = () => {};
  const deliver = (i: number, o: RunOutput) => {
    if (i < printed || done.has(i)) return; // a run done twice (after a worker died) prints once
    done.set(i, o);
    for (let d = done.get(printed); d !== undefined; d = done.get(printed)) {
      done.delete(printed++);
      printer.add(d);
    }
    if (printed === runs) settle();
  };

  const workers: Worker[] = [];
  let alive = 0;
  for (let w = 0; w < wanted; w++) {
    const task: WorkerTask = { args, settings, runSize, next: next.buffer as SharedArrayBuffer };
    let worker: Worker;
    try {
      worker = new Worker(opts.workerUrl ?? WORKER_URL, { workerData: task });
    } catch {
      break; // no worker: the main thread does it all
    }
    alive++;
    workers.push(worker);
    worker.on('message', (m: RunMessage) => deliver(m.run, m.output));
    worker.on('error', () => {}); // an 'exit' follows; its runs are done again below
    worker.on('exit', () => {
      if (--alive === 0) settle();
    });
  }

  // Loaded only now, so that the workers' start-up (a Node isolate, then this same code) overlaps the
  // main thread's own loading of it.
  installModinfoXz();
  const { ModinfoRunner } = await import('./modinfo-run.js');
  const runner = new ModinfoRunner(settings);
  for (let i = claimRun(next, runs); i !== undefined; i = claimRun(next, runs)) {
    // With a prefetcher there are no workers, so the runs come in order, as it needs.
    deliver(i, await runner.run(runArgs(args, runSize, i), prefetch && { from: prefetch, first: i * runSize }));
    if (alive > 0) await nextTick(); // let the workers' output in
  }
  // Every run is taken: wait for the workers' last ones (or for the workers to be gone).
  if (printed < runs && alive > 0) await new Promise<void>((resolve) => (settle = resolve));
  for (let i = printed; i < runs; i++) if (!done.has(i)) deliver(i, await runner.run(runArgs(args, runSize, i)));
  // Done: the workers end on their own once no run is left (or are stopped at exit, if one is still
  // starting). Not terminate(): on a worker that is exiting by itself at that moment, its promise can
  // stay pending for ever.
  for (const w of workers) w.unref();
  printer.finish();
  return printer.status;
}
