// The guest side of `npm run bench`: runs inside the qemu guest (as root, one boot per kernel) and
// measures kernmod against kmod and a C loop side by side, in the same boot. bench/run.ts starts it
// through runInVm; it writes its results as JSON (bench/results-types.ts) after every step, so a
// timeout still leaves the finished steps behind.
//
//   node dist/bench/guest.js --out FILE --kmbench PATH --cli PATH [--hello PATH] [--release R]
//        [--steps cycle,modinfo,resolve,probe,lsmod,depmod] [--cycles 400] [--rounds 5] [--resolve-sample 100]
//        [--lsmod-modules 120] [--budget STEP=SECONDS]... [--time-limit SECONDS] [--where vm|host]
//
// Processes (kmod's tools, kernmod's CLI) are started by kmbench (bench/c/kmbench.c): posix_spawnp and
// waitpid in a tight C loop, stdout and stderr to files in a private tmpfs directory, so both sides pay
// the same, minimal, driver cost and Node's child_process machinery is never inside a timed interval.
// In-process figures are timed with performance.now() around the calls.
//
// --where host runs only the steps that need no kernel (modinfo, resolve, depmod) against an installed module
// tree (--release), as a control for what TCG emulation does to the figures.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, release as osRelease, tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { loadNativeBinding } from '../lib/backend/native.js';
import { OUTPUT_FILES } from '../lib/depmod/outputs.js';
import { formatPlan, listModules, listModulesSync, modinfo, Modprobe, withBackend, type Kernmod } from '../lib/index.js';
import {
  compare,
  median,
  type Comparison,
  type GuestResult,
  type Mismatch,
  type StepResult,
  type Target,
  type Timing,
} from './results-types.js';

// ---- options -------------------------------------------------------------------------------------------

const STEPS = ['cycle', 'modinfo', 'resolve', 'probe', 'lsmod', 'depmod'] as const;
type StepName = (typeof STEPS)[number];

/** Soft time budgets per step (s): the mandatory first round always runs; extra rounds only if they fit. */
const DEFAULT_BUDGET_S: Record<StepName, number> = { cycle: 150, modinfo: 120, resolve: 60, probe: 60, lsmod: 75, depmod: 240 };

interface Options {
  out: string;
  ioDir: string;
  kmbench: string;
  cli: string;
  hello: string | undefined;
  release: string;
  runningRelease: boolean;
  steps: StepName[];
  cycles: number;
  rounds: number;
  resolveSample: number;
  lsmodModules: number;
  budgetMs: Record<StepName, number>;
  /** Whole-run limit (ms): later steps are not started past it, extra rounds not begun near it. */
  timeLimitMs: number;
  where: 'vm' | 'host';
}

function parseOptions(): Options {
  const { values: v } = parseArgs({
    options: {
      out: { type: 'string' },
      kmbench: { type: 'string' },
      cli: { type: 'string' },
      hello: { type: 'string' },
      release: { type: 'string' },
      steps: { type: 'string' },
      cycles: { type: 'string' },
      rounds: { type: 'string' },
      'resolve-sample': { type: 'string' },
      'lsmod-modules': { type: 'string' },
      budget: { type: 'string', multiple: true },
      where: { type: 'string' },
      'time-limit': { type: 'string' },
    },
  });
  const need = (k: 'out' | 'kmbench' | 'cli'): string => {
    const x = v[k];
    if (!x) throw new Error(`bench guest: --${k} is required`);
    return x;
  };
  const int = (x: string | undefined, dflt: number, name: string): number => {
    if (x === undefined) return dflt;
    const n = Number(x);
    if (!Number.isInteger(n) || n <= 0) throw new Error(`bench guest: --${name} expects a positive integer`);
    return n;
  };
  const where = v.where === 'host' ? 'host' : 'vm';
  const steps = (v.steps ?? (where === 'host' ? 'modinfo,resolve,depmod' : STEPS.join(',')))
    .split(',')
    .filter(Boolean)
    .map((s) => {
      if (!(STEPS as readonly string[]).includes(s)) throw new Error(`bench guest: unknown step ${s} (${STEPS.join(', ')})`);
      return s as StepName;
    });
  const budgetMs = Object.fromEntries(Object.entries(DEFAULT_BUDGET_S).map(([k, s]) => [k, s * 1000])) as Record<StepName, number>;
  for (const b of v.budget ?? []) {
    const m = /^(\w+)=(\d+(?:\.\d+)?)$/.exec(b);
    if (!m || !(STEPS as readonly string[]).includes(m[1]!)) throw new Error(`bench guest: --budget expects STEP=SECONDS, got ${b}`);
    budgetMs[m[1] as StepName] = Number(m[2]) * 1000;
  }
  const out = need('out');
  const release = v.release ?? osRelease();
  return {
    out,
    ioDir: dirname(out),
    kmbench: need('kmbench'),
    cli: need('cli'),
    hello: v.hello,
    release,
    runningRelease: release === osRelease(),
    steps,
    cycles: int(v.cycles, 400, 'cycles'),
    rounds: int(v.rounds, 5, 'rounds'),
    resolveSample: int(v['resolve-sample'], 100, 'resolve-sample'),
    lsmodModules: int(v['lsmod-modules'], 120, 'lsmod-modules'),
    budgetMs,
    timeLimitMs: int(v['time-limit'], 24 * 3600, 'time-limit') * 1000,
    where,
  };
}

// ---- helpers -------------------------------------------------------------------------------------------

let logPrefix = '[bench]';
function log(msg: string): void {
  process.stdout.write(`${logPrefix} ${msg}\n`);
}

const work = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'kernmod-bench-'));

interface SpawnRun {
  ms: number;
  processes: number;
  failed: number;
  firstFailure: number;
  firstStatus: number;
  out: string;
  err: string;
}

/**
 * Runs `commands` (each an argv) one process at a time through kmbench, `repeat` times over, with
 * stdout to `<tag>.out` and stderr to `<tag>.err`. Only spawning and waiting are timed.
 */
function spawnRun(o: Options, tag: string, commands: string[][], repeat = 1, timeoutMs = 20 * 60_000): SpawnRun {
  for (const c of commands) {
    for (const a of c) if (/[\t\n]/.test(a)) throw new Error(`bench: argument with a TAB or newline: ${JSON.stringify(a)}`);
  }
  const list = join(work, `${tag}.list`);
  const out = join(work, `${tag}.out`);
  const err = join(work, `${tag}.err`);
  writeFileSync(list, commands.map((c) => c.join('\t') + '\n').join(''));
  const r = spawnSync(o.kmbench, ['spawn', String(repeat), list, out, err], { encoding: 'utf8', timeout: timeoutMs });
  if (r.error) throw new Error(`kmbench spawn (${tag}): ${r.error.message}`);
  if (r.status !== 0) throw new Error(`kmbench spawn (${tag}) exited ${r.status}: ${r.stderr.trim()}`);
  const j = JSON.parse(r.stdout) as { ns: number; processes: number; failed: number; firstFailure: number; firstStatus: number };
  return { ms: j.ns / 1e6, processes: j.processes, failed: j.failed, firstFailure: j.firstFailure, firstStatus: j.firstStatus, out, err };
}

function failureText(r: SpawnRun, commands: string[][]): string {
  const cmd = commands[r.firstFailure % commands.length] ?? [];
  const shown = cmd.length > 6 ? [...cmd.slice(0, 6), `... (${cmd.length} args)`] : cmd;
  const stderr = readFileSync(r.err, 'utf8').trim().split('\n').slice(0, 5).join(' | ');
  return (
    `${r.failed} of ${r.processes} processes failed; first: \`${shown.join(' ')}\` ` +
    `exited ${r.firstStatus}${stderr ? `; stderr: ${stderr}` : ''}`
  );
}

/** A spawn run whose processes must all exit 0. */
function spawnOk(o: Options, tag: string, commands: string[][], repeat = 1): SpawnRun {
  const r = spawnRun(o, tag, commands, repeat);
  if (r.failed) throw new Error(`${tag}: ${failureText(r, commands)}`);
  return r;
}

function sha(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/**
 * Byte comparison of two outputs. On a difference, both files go to the io dir (the host keeps them)
 * and the detail names the first differing line.
 */
function compareOutputs(o: Options, what: string, kernmodPath: string, kmodPath: string, keepFiles = true): Mismatch | undefined {
  const a = readFileSync(kernmodPath);
  const b = readFileSync(kmodPath);
  if (a.equals(b)) return undefined;
  const al = a.toString('latin1').split('\n');
  const bl = b.toString('latin1').split('\n');
  let i = 0;
  while (i < al.length && i < bl.length && al[i] === bl[i]) i++;
  const slug = what
    .replace(/[^A-Za-z0-9]+/g, '-')
    .replace(/^-|-$/g, '')
    .toLowerCase();
  const files = [`mismatch-${slug}.kernmod.txt`, `mismatch-${slug}.kmod.txt`];
  if (keepFiles) {
    try {
      copyFileSync(kernmodPath, join(o.ioDir, files[0]!));
      copyFileSync(kmodPath, join(o.ioDir, files[1]!));
    } catch {
      /* the detail below still says what differs */
    }
  }
  return {
    what,
    detail:
      `${a.length} vs ${b.length} bytes (kernmod vs kmod), ${al.length} vs ${bl.length} lines; first difference at line ${i + 1}: ` +
      `kernmod ${JSON.stringify(al[i]?.slice(0, 200) ?? '<end>')} vs kmod ${JSON.stringify(bl[i]?.slice(0, 200) ?? '<end>')}`,
    ...(keepFiles ? { files } : {}),
  };
}

function rotate<T>(xs: readonly T[], by: number): T[] {
  const n = xs.length;
  return xs.map((_, i) => xs[(i + by) % n]!);
}

function timing(label: string, unit: string, items: number, samplesMs: number[] = []): Timing {
  return { label, samplesMs, items, unit };
}

const MODULE_EXT = /\.ko(\.(gz|xz|zst))?$/;

/** Module files under `dir`, sorted bytewise (the same order for both tools). */
function moduleFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = `${d}/${e.name}`;
      if (e.isDirectory()) walk(p);
      else if (e.isFile() && MODULE_EXT.test(e.name)) out.push(p);
    }
  };
  walk(dir);
  return out.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

interface DepEntry {
  /** modules.dep's path, relative to the module directory. */
  path: string;
  /** Name as the file is called (what a script would pass to modprobe). */
  fileName: string;
  /** Kernel name (`-` → `_`). */
  name: string;
  deps: string[];
}

const norm = (n: string): string => n.replace(/-/g, '_');

function readModulesDep(release: string): DepEntry[] {
  const text = readFileSync(`/lib/modules/${release}/modules.dep`, 'utf8');
  const out: DepEntry[] = [];
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const path = line.slice(0, colon);
    const fileName = basename(path).replace(MODULE_EXT, '');
    const deps = line
      .slice(colon + 1)
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map((d) => norm(basename(d).replace(MODULE_EXT, '')));
    out.push({ path, fileName, name: norm(fileName), deps });
  }
  return out;
}

/** Names in /proc/modules. */
function loadedNames(): Set<string> {
  return new Set(
    readFileSync('/proc/modules', 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => l.slice(0, l.indexOf(' '))),
  );
}

function closure(names: readonly string[], dep: Map<string, DepEntry>): string[] {
  const seen = new Set<string>();
  const visit = (n: string): void => {
    if (seen.has(n)) return;
    seen.add(n);
    for (const d of dep.get(n)?.deps ?? []) visit(d);
  };
  names.forEach((n) => visit(norm(n)));
  return [...seen];
}

/** Dependents first: the order in which a set of modules can be unloaded. */
function unloadOrder(names: readonly string[], dep: Map<string, DepEntry>): string[] {
  const set = new Set(names);
  const out: string[] = [];
  const done = new Set<string>();
  const visit = (n: string): void => {
    if (done.has(n)) return;
    done.add(n);
    for (const d of dep.get(n)?.deps ?? []) if (set.has(d)) visit(d);
    out.push(n);
  };
  names.forEach(visit);
  return out.reverse();
}

async function pool<T, R>(items: readonly T[], width: number, f: (x: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await f(items[i]!);
      }
    }),
  );
  return out;
}

const since = (t0: number): number => performance.now() - t0;
const fmtS = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

interface StepContext {
  o: Options;
  info: Record<string, unknown>;
  mismatches: Mismatch[];
  comparisons: Comparison[];
  /** ms left of this step's soft budget. */
  left(): number;
}

// ---- 1. load + unload cycle ------------------------------------------------------------------------------

async function stepCycle(ctx: StepContext): Promise<void> {
  const { o, info } = ctx;
  if (!o.hello) throw new Error('--hello (the kernmod_hello.ko test module) is required for the cycle step');
  // A copy on tmpfs, as a module on a local disk would be once in the page cache: the original is on
  // the host root shared over 9p, where every open() is several round trips to qemu.
  const file = join(work, 'kernmod_hello.ko');
  copyFileSync(o.hello, file);
  info.module = { source: o.hello, loadedFrom: file };
  const name = 'kernmod_hello';
  const native = withBackend('native');
  let ffi: Kernmod | undefined;
  try {
    ffi = withBackend('ffi');
  } catch (e) {
    info.ffiUnavailable = (e as Error).message;
  }
  const ensureUnloaded = (): void => {
    if (existsSync(`/sys/module/${name}`)) native.unloadModuleSync(name, { wait: 5000 });
  };

  const syncLoop =
    (km: Kernmod, kernelLog = true) =>
    (n: number): number => {
      const options = kernelLog ? undefined : { kernelLog: false };
      const t0 = performance.now();
      for (let i = 0; i < n; i++) {
        km.loadModuleSync(file, options);
        km.unloadModuleSync(name, options);
      }
      return since(t0);
    };
  const asyncLoop =
    (km: Kernmod, kernelLog = true) =>
    async (n: number): Promise<number> => {
      const options = kernelLog ? undefined : { kernelLog: false };
      const t0 = performance.now();
      for (let i = 0; i < n; i++) {
        await km.loadModule(file, options);
        await km.unloadModule(name, options);
      }
      return since(t0);
    };
  // Where the native async calls ran (the addon's syscall thread or the pool), over the timed rounds only.
  const callStats = { thread: 0, pool: 0, spinHits: 0 };
  const nativeAsyncLoop = async (n: number): Promise<number> => {
    const before = loadNativeBinding().callStats();
    const ms = await asyncLoop(native)(n);
    const after = loadNativeBinding().callStats();
    for (const k of ['thread', 'pool', 'spinHits'] as const) callStats[k] += after[k] - before[k];
    return ms;
  };
  const cLoop =
    (mode: 'cycle' | 'cycle-kernmod') =>
    (n: number): number => {
      const r = spawnSync(o.kmbench, [mode, file, name, String(n)], { encoding: 'utf8', timeout: 10 * 60_000 });
      if (r.status !== 0) throw new Error(`kmbench ${mode} exited ${r.status}: ${(r.stderr || r.error?.message || '').trim()}`);
      return (JSON.parse(r.stdout) as { ns: number }).ns / 1e6;
    };
  const procCmds = [
    ['insmod', file],
    ['rmmod', name],
  ];
  const procLoop = (n: number): number => spawnOk(o, 'cycle-insmod-rmmod', procCmds, n).ms;

  interface Variant {
    key: string;
    label: string;
    run: (n: number) => number | Promise<number>;
  }
  const variants: Variant[] = [
    { key: 'c', label: 'C loop: open + finit_module + close + delete_module(O_NONBLOCK)', run: cLoop('cycle') },
    {
      key: 'c-kernmod',
      label: "C loop with kernmod's syscalls: open + fstat + pread + finit_module + close + delete_module, /dev/kmsg read after each",
      run: cLoop('cycle-kernmod'),
    },
    { key: 'native-sync', label: 'kernmod native, loadModuleSync + unloadModuleSync', run: syncLoop(native) },
    {
      key: 'native-sync-nolog',
      label: 'kernmod native, loadModuleSync + unloadModuleSync, kernelLog: false',
      run: syncLoop(native, false),
    },
    { key: 'native-async', label: 'kernmod native, await loadModule + unloadModule', run: nativeAsyncLoop },
    {
      key: 'native-async-nolog',
      label: 'kernmod native, await loadModule + unloadModule, kernelLog: false',
      run: asyncLoop(native, false),
    },
    ...(ffi ? [{ key: 'ffi-async', label: "kernmod withBackend('ffi'), await loadModule + unloadModule", run: asyncLoop(ffi) }] : []),
    { key: 'insmod-rmmod', label: 'kmod insmod + rmmod processes', run: procLoop },
  ];

  ensureUnloaded();
  // Warm-up: page cache, JIT, the ffi library, the dynamic loader for kmod.
  const warm: Record<string, number> = {};
  for (const v of variants) {
    ensureUnloaded();
    warm[v.key] = Number(((await v.run(3)) / 3).toFixed(2));
  }
  info.warmupMsPerCycle = warm;
  for (const k of ['thread', 'pool', 'spinHits'] as const) callStats[k] = 0;
  // Many short rounds, the variants in a rotating order: drift (other work on the host) hits every
  // variant alike, and each round's ratio compares neighbours in time. 20 rounds, because under TCG one
  // round's ratio varies by several percent: a median of 10 was coarser than the targets' margins.
  const rounds = Math.max(1, Math.min(o.rounds * 4, o.cycles));
  const per = Math.ceil(o.cycles / rounds);
  info.cycles = { perVariant: per * rounds, rounds, perRound: per };
  const samples: Record<string, number[]> = Object.fromEntries(variants.map((v) => [v.key, []]));
  for (let r = 0; r < rounds; r++) {
    for (const v of rotate(variants, r)) {
      ensureUnloaded();
      samples[v.key]!.push(await v.run(per));
    }
    log(
      `cycle: round ${r + 1}/${rounds} (${per} cycles each), ` +
        `ms/cycle: ${variants.map((v) => `${v.key} ${(samples[v.key]!.at(-1)! / per).toFixed(1)}`).join(', ')}`,
    );
  }
  ensureUnloaded();
  info.nativeAsyncCalls = { ...callStats };

  const t = (key: string): Timing => timing(variants.find((v) => v.key === key)!.label, 'cycle', per, samples[key]);
  const perCycle = (key: string): number => median(samples[key]!) / per;
  const c = t('c');
  const captureUs = ((perCycle('native-sync') - perCycle('native-sync-nolog')) * 1000).toFixed(0);
  const overhead = (key: string): string =>
    `${((perCycle(key) - perCycle('c')) * 1000).toFixed(0)} µs/cycle over the C loop; the C loop making ` +
    `kernmod's syscalls (fstat and pread of the compression magic, four reads of /dev/kmsg) ` +
    `is ${((perCycle('c-kernmod') - perCycle('c')) * 1000).toFixed(0)} µs/cycle over it`;
  const kernelNote =
    `the kernel's load+unload work dominates: ${perCycle('c').toFixed(1)} ms/cycle for the C loop under ` +
    `TCG (module memory setup, sysfs, RCU grace periods on unload)`;
  ctx.comparisons.push(
    compare('cycle.native-sync.vs-c', 'load+unload cycle: native sync vs C loop', t('native-sync'), c, {
      target: { maxRatio: 1.1, text: '<= 1.10x C loop' },
      notes: [overhead('native-sync'), kernelNote],
    }),
    compare('cycle.native-async.vs-c', 'load+unload cycle: native async vs C loop', t('native-async'), c, {
      target: { maxRatio: 1.2, text: '<= 1.20x C loop' },
      notes: [
        overhead('native-async'),
        `each call goes to the addon's syscall thread and back: ${callStats.thread} ` +
          `of ${callStats.thread + callStats.pool} timed calls ran there, ${callStats.spinHits} of them found ` +
          `it still waiting for the next call (no wake-up)`,
      ],
    }),
    compare(
      'cycle.native-sync.vs-native-sync-nolog',
      'load+unload cycle: native sync vs the same with kernelLog: false',
      t('native-sync'),
      t('native-sync-nolog'),
      {
        notes: [`what capturing each call's kernel log lines (/dev/kmsg) costs: ${captureUs} µs/cycle`],
      },
    ),
    // The cycle targets were set before the kernel-log capture existed: these two rows are the same calls without it.
    compare('cycle.native-sync-nolog.vs-c', 'load+unload cycle: native sync, kernelLog: false, vs C loop', t('native-sync-nolog'), c, {
      notes: [overhead('native-sync-nolog')],
    }),
    compare('cycle.native-async-nolog.vs-c', 'load+unload cycle: native async, kernelLog: false, vs C loop', t('native-async-nolog'), c, {
      notes: [overhead('native-async-nolog')],
    }),
    compare('cycle.c-kernmod.vs-c', "load+unload cycle: C with kernmod's syscalls vs C loop", t('c-kernmod'), c, {
      notes: ["not kernmod code: what kernmod's six extra system calls (the guard's two, the kernel log's four) cost by themselves"],
    }),
    compare(
      'cycle.native-sync.vs-c-kernmod',
      "load+unload cycle: native sync vs C with kernmod's syscalls",
      t('native-sync'),
      t('c-kernmod'),
      {
        notes: ['what running the same syscalls from JavaScript costs'],
      },
    ),
  );
  if (ffi)
    ctx.comparisons.push(
      compare('cycle.ffi-async.vs-c', 'load+unload cycle: ffi async vs C loop', t('ffi-async'), c, { notes: [overhead('ffi-async')] }),
    );
  const proc = t('insmod-rmmod');
  const faster: Target = { maxRatio: 1 / 3, text: '>= 3x faster' };
  const procNote =
    `kmod pays two process start-ups per cycle (exec, dynamic linking of libkmod's ` +
    `libcrypto/liblzma/libzstd, under TCG): ${perCycle('insmod-rmmod').toFixed(1)} ms/cycle ` +
    `vs ${perCycle('c').toFixed(1)} ms for the C loop`;
  ctx.comparisons.push(
    compare('cycle.native-sync.vs-insmod', 'load+unload cycle: native sync vs insmod+rmmod', t('native-sync'), proc, {
      target: faster,
      notes: [procNote],
    }),
    compare('cycle.native-async.vs-insmod', 'load+unload cycle: native async vs insmod+rmmod', t('native-async'), proc, {
      target: faster,
      notes: [procNote],
    }),
  );
  if (ffi)
    ctx.comparisons.push(
      compare('cycle.ffi-async.vs-insmod', 'load+unload cycle: ffi async vs insmod+rmmod', t('ffi-async'), proc, {
        target: faster,
        notes: [procNote],
      }),
    );
}

// ---- 2. modinfo of the whole tree -----------------------------------------------------------------------------

/** Splits arguments into batches whose argv stays well under ARG_MAX (identical for both tools). */
function batches(files: readonly string[], maxBytes: number): string[][] {
  const out: string[][] = [];
  let cur: string[] = [];
  let bytes = 0;
  for (const f of files) {
    const len = Buffer.byteLength(f) + 1 + 8; // the string, its NUL, its argv pointer
    if (cur.length && bytes + len > maxBytes) {
      out.push(cur);
      cur = [];
      bytes = 0;
    }
    cur.push(f);
    bytes += len;
  }
  if (cur.length) out.push(cur);
  return out;
}

async function stepModinfo(ctx: StepContext): Promise<void> {
  const { o, info } = ctx;
  const tree = `/lib/modules/${o.release}/kernel`;
  const files = moduleFiles(tree);
  if (files.length === 0) throw new Error(`no module files under ${tree}`);
  const xz = files.filter((f) => f.endsWith('.ko.xz')).length;
  const plain = files.filter((f) => f.endsWith('.ko')).length;
  const kind = xz > plain ? '.ko.xz' : '.ko';
  // ARG_MAX is 2 MiB here (a quarter of the 8 MiB stack limit); the environment shares it. A quarter
  // of it per batch leaves ample room.
  const argBatches = batches(files, 512 * 1024);
  info.files = files.length;
  info.byExtension = { '.ko': plain, '.ko.xz': xz, other: files.length - plain - xz };
  info.batches = argBatches.length;

  const t0 = performance.now();
  let bytes = 0;
  for (const f of files) bytes += readFileSync(f).length;
  info.cacheWarmup = { ms: Math.round(since(t0)), bytes };

  const kmodCmds = argBatches.map((b) => ['modinfo', ...b]);
  const kernmodCmds = argBatches.map((b) => [process.execPath, o.cli, 'modinfo', ...b]);
  const kmodT = timing(`kmod modinfo, all files in ${argBatches.length} process(es)`, 'file', files.length);
  const kernmodT = timing(`kernmod modinfo CLI, all files in ${argBatches.length} process(es)`, 'file', files.length);
  const ref: { out?: string; err?: string; failed?: number } = {};

  const runKmod = (r: number): void => {
    const x = spawnRun(o, `modinfo-kmod-${r}`, kmodCmds);
    kmodT.samplesMs.push(x.ms);
    if (r === 0) {
      ref.out = sha(x.out);
      ref.err = sha(x.err);
      ref.failed = x.failed;
      info.kmodExit = x.failed ? failureText(x, kmodCmds) : 0;
      info.outputBytes = readFileSync(x.out).length;
      copyFileSync(x.out, join(work, 'modinfo-ref.out'));
      copyFileSync(x.err, join(work, 'modinfo-ref.err'));
    } else if (sha(x.out) !== ref.out)
      ctx.mismatches.push({ what: `modinfo round ${r + 1}`, detail: 'kmod modinfo printed something else than in round 1' });
  };
  const runKernmod = (r: number): void => {
    const x = spawnRun(o, `modinfo-kernmod-${r}`, kernmodCmds);
    kernmodT.samplesMs.push(x.ms);
    if (r === 0) {
      const m = compareOutputs(o, 'modinfo stdout', x.out, join(work, 'modinfo-ref.out'));
      if (m) ctx.mismatches.push(m);
      const e = compareOutputs(o, 'modinfo stderr', x.err, join(work, 'modinfo-ref.err'));
      if (e) ctx.mismatches.push(e);
      if (x.failed !== ref.failed)
        ctx.mismatches.push({
          what: 'modinfo exit status',
          detail: `kernmod: ${x.failed ? failureText(x, kernmodCmds) : 'all 0'}; kmod: ${String(info.kmodExit)}`,
        });
    } else if (sha(x.out) !== ref.out)
      ctx.mismatches.push({ what: `modinfo round ${r + 1}`, detail: 'kernmod modinfo output differs from kmod (it matched in round 1)' });
  };

  // Rounds in ABBA order (kmod, kernmod, kernmod, kmod, ...) so drift in the host's load cancels out.
  const maxRounds = Math.min(o.rounds, 3);
  for (let r = 0; r < maxRounds; r++) {
    if (r > 0) {
      // Keep room for the library run below, which costs about what the CLI does.
      const need = (kmodT.samplesMs.at(-1)! + 2 * kernmodT.samplesMs.at(-1)!) * 1.15;
      if (need > ctx.left()) {
        info.roundsNote =
          `stopped after ${r} round(s): another would take ~${fmtS(need)}, ${fmtS(Math.max(0, ctx.left()))} ` + `of the step's budget left`;
        break;
      }
    }
    if (r % 2 === 0) {
      runKmod(r);
      runKernmod(r);
    } else {
      runKernmod(r);
      runKmod(r);
    }
    log(`modinfo: round ${r + 1}: kmod ${fmtS(kmodT.samplesMs.at(-1)!)}, kernmod ${fmtS(kernmodT.samplesMs.at(-1)!)}`);
  }

  // The library, in this process: modinfo() over every file, 16 at a time.
  const libT = timing('kernmod modinfo() library, in-process, pool of 16', 'file', files.length);
  await pool(files.slice(0, 100), 16, (f) => modinfo(f).catch(() => undefined)); // JIT warm-up
  for (let r = 0; r < 2; r++) {
    if (r > 0 && libT.samplesMs.at(-1)! * 1.15 > ctx.left()) break;
    let errors = 0;
    const t1 = performance.now();
    await pool(files, 16, (f) =>
      modinfo(f).catch(() => {
        errors++;
      }),
    );
    libT.samplesMs.push(since(t1));
    info.libraryErrors = errors;
    log(`modinfo: library round ${r + 1}: ${fmtS(libT.samplesMs.at(-1)!)}`);
  }

  const limits =
    kind === '.ko.xz'
      ? 'xz decoding dominates (kmod: liblzma, whole file); TCG emulates every instruction'
      : 'per-file ELF parsing and output; TCG penalises JIT-compiled code more than compiled C';
  ctx.comparisons.push(
    compare(
      `modinfo.cli${kind === '.ko.xz' ? '.xz' : '.ko'}`,
      `modinfo whole tree (${files.length} ${kind}): CLI vs kmod`,
      kernmodT,
      kmodT,
      {
        target: kind === '.ko.xz' ? { maxRatio: 1 / 1.5, text: '>= 1.5x faster' } : { maxRatio: 1, text: 'no slower' },
        notes: [
          `one process per tool over all files (${argBatches.length} batch(es)); includes node start-up for kernmod`,
          limits,
          ...(info.roundsNote ? [String(info.roundsNote)] : []),
        ],
      },
    ),
    compare(
      `modinfo.lib${kind === '.ko.xz' ? '.xz' : '.ko'}`,
      `modinfo whole tree (${files.length} ${kind}): library in-process vs kmod`,
      libT,
      kmodT,
      {
        notes: ['in-process modinfo() objects, no formatting or printing, no process start-up; baseline is the kmod process'],
      },
    ),
  );
}

// ---- 3. --show-depends for every name in modules.dep -------------------------------------------------------

async function stepResolve(ctx: StepContext): Promise<void> {
  const { o, info } = ctx;
  const entries = readModulesDep(o.release);
  const names = entries.map((e) => e.fileName);
  const k = Math.max(1, Math.ceil(names.length / o.resolveSample));
  const sample = names.filter((_, i) => i % k === 0);
  info.names = names.length;
  info.kmodPerNameSample = { every: k, count: sample.length };
  const sArgs = o.runningRelease ? [] : ['-S', o.release];
  const mpOpts = o.runningRelease ? {} : { release: o.release };

  const lib = async (list: readonly string[]): Promise<{ ms: number; out: string }> => {
    const t0 = performance.now();
    const mp = await Modprobe.open(mpOpts);
    let out = '';
    for (const n of list) out += formatPlan(mp.resolve(n, { ignoreLoaded: true }));
    return { ms: since(t0), out };
  };
  const saveText = (tag: string, text: string): string => {
    const p = join(work, `${tag}.out`);
    writeFileSync(p, text, 'latin1');
    return p;
  };
  const keep = (path: string, tag: string): string => {
    const p = join(work, `${tag}.keep`);
    copyFileSync(path, p);
    return p;
  };

  // kmod, one process per name, as scripts call it. Its cost per name does not depend on how many names
  // there are, so a sample gives the per-name figure; kernmod runs over every name in one process.
  const eachCmds = sample.map((n) => ['modprobe', ...sArgs, '-D', n]);
  const each = spawnRun(o, 'resolve-kmod-each', eachCmds);
  if (each.failed) ctx.mismatches.push({ what: 'kmod modprobe -D', detail: `kmod itself failed: ${failureText(each, eachCmds)}` });
  const eachT = timing(`kmod modprobe -D NAME, one process per name (${sample.length} sampled names)`, 'name', sample.length, [each.ms]);
  log(`resolve: kmod one process per name: ${fmtS(each.ms)} for ${sample.length} names`);
  // The sample through the library must print exactly what those processes printed.
  await lib(sample.slice(0, 50)); // JIT warm-up
  const m0 = compareOutputs(
    o,
    'resolve library vs kmod per name (sample)',
    saveText('resolve-lib-sample', (await lib(sample)).out),
    each.out,
  );
  if (m0) ctx.mismatches.push(m0);
  // kmod -a -D over the sample prints the same as one process per name? (kmod against itself; info)
  const allSample = spawnRun(o, 'resolve-kmod-all-sample', [['modprobe', ...sArgs, '-a', '-D', ...sample]]);
  const m1 = compareOutputs(o, 'kmod -a -D vs kmod per name (sample)', allSample.out, each.out, false);
  info.kmodAllMatchesEach = m1 ? m1.detail : true;

  // Every name: one process for each tool, and the library in this process.
  const allCmd = [['modprobe', ...sArgs, '-a', '-D', ...names]];
  const cliCmd = [[process.execPath, o.cli, 'modprobe', ...sArgs, '-a', '-D', ...names]];
  const allT = timing(`kmod modprobe -a -D with all ${names.length} names, one process`, 'name', names.length);
  const cliT = timing(`kernmod modprobe -a -D with all ${names.length} names, one process`, 'name', names.length);
  const libT = timing(`kernmod Modprobe.open + resolve() + formatPlan over all ${names.length} names, in-process`, 'name', names.length);
  const first: { kmod?: string; cli?: string; lib?: string } = {};
  const rounds = Math.min(o.rounds, 3);
  for (let r = 0; r < rounds; r++) {
    if (r > 0 && (allT.samplesMs.at(-1)! + cliT.samplesMs.at(-1)! + libT.samplesMs.at(-1)!) * 1.2 > ctx.left()) {
      info.roundsNote = `stopped after ${r} round(s) (budget)`;
      break;
    }
    for (const which of rotate(['all', 'cli', 'lib'] as const, r)) {
      if (which === 'all') {
        const x = spawnRun(o, 'resolve-kmod-all', allCmd);
        allT.samplesMs.push(x.ms);
        if (x.failed) ctx.mismatches.push({ what: 'kmod modprobe -a -D exit status', detail: failureText(x, allCmd) });
        first.kmod ??= keep(x.out, 'resolve-kmod-all');
      } else if (which === 'cli') {
        const x = spawnRun(o, 'resolve-kernmod-cli', cliCmd);
        cliT.samplesMs.push(x.ms);
        if (x.failed) ctx.mismatches.push({ what: 'kernmod modprobe -a -D exit status', detail: failureText(x, cliCmd) });
        first.cli ??= keep(x.out, 'resolve-kernmod-cli');
      } else {
        const x = await lib(names);
        libT.samplesMs.push(x.ms);
        first.lib ??= saveText('resolve-lib-all', x.out);
      }
    }
    log(
      `resolve: round ${r + 1}: kmod -a ${fmtS(allT.samplesMs.at(-1)!)}, ` +
        `kernmod CLI -a ${fmtS(cliT.samplesMs.at(-1)!)}, library ${fmtS(libT.samplesMs.at(-1)!)}`,
    );
  }
  const m2 = compareOutputs(o, 'resolve kernmod CLI -a -D vs kmod -a -D (all names)', first.cli!, first.kmod!);
  if (m2) ctx.mismatches.push(m2);
  const m3 = compareOutputs(o, 'resolve library vs kmod -a -D (all names)', first.lib!, first.kmod!);
  if (m3) ctx.mismatches.push(m3);
  info.outputBytes = readFileSync(first.kmod!).length;

  const sampledNames = k > 1 ? `every ${k}th of the ${names.length} names (${sample.length} processes)` : `all ${names.length} names`;
  const sampled = `kmod per name: ${sampledNames}, its time per name compared with kernmod's over all names`;
  const ten: Target = { maxRatio: 0.1, text: '>= 10x faster' };
  ctx.comparisons.push(
    compare('resolve.cli.vs-each', '--show-depends: kernmod CLI -a (1 process) vs kmod per name', cliT, eachT, {
      target: ten,
      notes: [sampled, 'kmod pays a process start-up and index/config load per name; kernmod one node start-up for all names'],
    }),
    compare('resolve.lib.vs-each', '--show-depends: library in-process vs kmod per name', libT, eachT, {
      target: ten,
      notes: [sampled, 'includes Modprobe.open (indexes + modprobe.d)'],
    }),
    compare('resolve.cli.vs-all', '--show-depends: kernmod CLI -a vs kmod -a (1 process each)', cliT, allT, {
      notes: [
        'like for like, all names: one process each; not how scripts call kmod',
        ...(info.kmodAllMatchesEach === true ? [] : ['kmod -a -D output differs from its per-name output: see info']),
      ],
    }),
  );
}

// ---- 5. parallel probe --------------------------------------------------------------------------------------

const WIDE_CANDIDATES = ['nfsv4', 'nft_chain_nat', 'raid456', 'ceph', 'cifs', 'btrfs', 'ocfs2'];

async function stepProbe(ctx: StepContext): Promise<void> {
  const { o, info } = ctx;
  const native = withBackend('native');
  const entries = readModulesDep(o.release);
  const dep = new Map(entries.map((e) => [e.name, e]));
  const before = loadedNames();

  const cps = entries.filter((e) => /^nls_cp\d+$/.test(e.name)).sort((a, b) => Number(a.name.slice(6)) - Number(b.name.slice(6)));
  const others = entries.filter((e) => /^nls_/.test(e.name) && !/^nls_cp\d+$/.test(e.name)).sort((a, b) => (a.name < b.name ? -1 : 1));
  const nls = [...cps, ...others]
    .filter((e) => !before.has(e.name))
    .slice(0, 20)
    .map((e) => e.fileName);

  const cleanup = (targets: readonly string[]): void => {
    const all = closure(targets, dep).filter((n) => !before.has(n));
    spawnRun(o, 'probe-cleanup', [['modprobe', '-r', '-a', ...targets]]);
    let left = all.filter((n) => loadedNames().has(n));
    for (const n of unloadOrder(left, dep)) {
      try {
        native.unloadModuleSync(n, { wait: 5000 });
      } catch {
        /* checked below */
      }
    }
    left = all.filter((n) => loadedNames().has(n));
    if (left.length) throw new Error(`could not unload ${left.join(' ')} between runs`);
  };
  const verify = (targets: readonly string[], who: string): void => {
    const now = loadedNames();
    const missing = closure(targets, dep).filter((n) => !now.has(n));
    if (missing.length) throw new Error(`${who} left ${missing.join(' ')} unloaded`);
  };

  const kmodRun = (targets: readonly string[], tag: string): number => spawnOk(o, tag, [['modprobe', '-a', ...targets]]).ms;
  const cliRun = (targets: readonly string[], tag: string): number =>
    spawnOk(o, tag, [[process.execPath, o.cli, 'modprobe', '-a', ...targets]]).ms;
  const libRun = async (targets: readonly string[], concurrent: boolean): Promise<number> => {
    const t0 = performance.now();
    const mp = await Modprobe.open();
    const results = concurrent
      ? await Promise.all(targets.map((t) => mp.probe(t, { kernmod: native })))
      : await (async () => {
          const rs = [];
          for (const t of targets) rs.push(await mp.probe(t, { kernmod: native, concurrency: 1 }));
          return rs;
        })();
    const ms = since(t0);
    const bad = results.find((r) => !r.ok);
    if (bad) throw new Error(`kernmod probe ${bad.plan.query} failed: ${bad.error?.message ?? '?'}`);
    return ms;
  };

  // The wide module: the candidate with the most dependencies that kmod loads here.
  const candidates = WIDE_CANDIDATES.filter((c) => dep.has(c) && !before.has(c)).sort(
    (a, b) => closure([b], dep).length - closure([a], dep).length,
  );
  let wide: string | undefined;
  const rejected: Record<string, string> = {};
  for (const c of candidates) {
    try {
      kmodRun([c], 'probe-choose');
      verify([c], 'kmod modprobe');
      cleanup([c]);
      wide = c;
      break;
    } catch (e) {
      rejected[c] = (e as Error).message;
      try {
        cleanup([c]);
      } catch {
        /* the next candidate may still work */
      }
    }
  }
  if (Object.keys(rejected).length) info.wideRejected = rejected;

  const sets: Array<{ key: string; label: string; targets: string[] }> = [];
  if (nls.length >= 2) sets.push({ key: 'nls', label: `${nls.length} independent nls modules`, targets: nls });
  if (wide) sets.push({ key: 'wide', label: `${wide} (${closure([wide], dep).length} modules with dependencies)`, targets: [wide] });
  info.sets = sets.map((s) => ({ key: s.key, targets: s.targets, modules: closure(s.targets, dep) }));
  if (sets.length === 0) throw new Error('no module sets to probe');

  const t0 = performance.now();
  const budget = ctx.left();
  for (const [si, set] of sets.entries()) {
    type V = { key: string; label: string; run: () => Promise<number> };
    const vs: V[] = [
      { key: 'kmod', label: 'kmod modprobe -a (1 process)', run: async () => kmodRun(set.targets, `probe-${set.key}-kmod`) },
      { key: 'concurrent', label: 'kernmod probe(), concurrent, in-process (incl. Modprobe.open)', run: () => libRun(set.targets, true) },
      {
        key: 'sequential',
        label: 'kernmod probe(), concurrency 1, in-process (incl. Modprobe.open)',
        run: () => libRun(set.targets, false),
      },
    ];
    const samples: Record<string, number[]> = Object.fromEntries(vs.map((v) => [v.key, []]));
    const once = async (v: V, into?: number[]): Promise<void> => {
      cleanup(set.targets);
      const ms = await v.run();
      verify(set.targets, v.label);
      into?.push(ms);
    };
    for (const v of vs) await once(v); // warm-up
    // This set's share of the budget: what is left, split over the sets still to run.
    const setBudget = (budget - since(t0)) / (sets.length - si);
    const setStart = performance.now();
    for (let r = 0; r < o.rounds; r++) {
      const roundStart = performance.now();
      for (const v of rotate(vs, r)) await once(v, samples[v.key]);
      log(`probe ${set.key}: round ${r + 1}: ${vs.map((v) => `${v.key} ${samples[v.key]!.at(-1)!.toFixed(0)} ms`).join(', ')}`);
      if (r + 1 < o.rounds && since(setStart) + since(roundStart) * 1.1 > setBudget) {
        info[`${set.key}Rounds`] = `${r + 1} (budget)`;
        break;
      }
    }
    // The CLI once: node start-up dominates it.
    cleanup(set.targets);
    const cliMs = cliRun(set.targets, `probe-${set.key}-cli`);
    verify(set.targets, 'kernmod modprobe -a');
    cleanup(set.targets);
    const t = (key: string): Timing => timing(vs.find((v) => v.key === key)!.label, 'run', 1, samples[key]);
    const note =
      set.key === 'nls'
        ? 'tiny inits: the fixed costs (process start-up for kmod, Modprobe.open for kernmod) and finit_module itself dominate'
        : "the modules' init functions run in the kernel and dominate (raid6/xor benchmark their algorithms at load)";
    ctx.comparisons.push(
      compare(`probe.${set.key}.concurrent`, `probe ${set.label}: kernmod concurrent vs modprobe -a`, t('concurrent'), t('kmod'), {
        notes: ['2 vCPUs', note],
      }),
      compare(`probe.${set.key}.sequential`, `probe ${set.label}: kernmod sequential vs modprobe -a`, t('sequential'), t('kmod'), {
        notes: ['concurrency 1, kmod order: isolates the gain from concurrency'],
      }),
      compare(
        `probe.${set.key}.cli`,
        `probe ${set.label}: kernmod CLI vs modprobe -a`,
        timing('kernmod modprobe -a CLI (1 process, 1 run)', 'run', 1, [cliMs]),
        t('kmod'),
        {
          notes: ['one run; includes node start-up'],
        },
      ),
    );
  }
}

// ---- 4. lsmod with 100+ modules loaded ----------------------------------------------------------------------

const NOT_FOR_MASS_LOAD = /(^|_)(test|tests|kunit|torture|bench|dummy)(_|$)|^test|_test$|^tcrypt$|^crypto_(user|engine)$/;

async function stepLsmod(ctx: StepContext): Promise<void> {
  const { o, info } = ctx;
  const native = withBackend('native');
  const entries = readModulesDep(o.release);
  const rank = (p: string): number =>
    p.startsWith('kernel/fs/nls/')
      ? 0
      : p.startsWith('kernel/fs/')
        ? 1
        : p.startsWith('kernel/crypto/')
          ? 2
          : p.startsWith('kernel/lib/')
            ? 3
            : 9;
  const candidates = entries
    .filter((e) => rank(e.path) < 9 && !NOT_FOR_MASS_LOAD.test(e.name) && !e.path.includes('/test'))
    .sort((a, b) => rank(a.path) - rank(b.path) || (a.path < b.path ? -1 : 1));
  const mp = await Modprobe.open();
  const failed: Record<string, string> = {};
  const t0 = performance.now();
  let tried = 0;
  // Loading is set-up, not measured: it may take most of the budget, but at least a minute.
  const loadBudget = Math.max(ctx.left() * 0.6, 60_000);
  for (let i = 0; i < candidates.length && loadedNames().size < o.lsmodModules; i += 4) {
    if (since(t0) > loadBudget) break;
    const batch = candidates.slice(i, i + 4);
    tried += batch.length;
    await Promise.all(
      batch.map(async (e) => {
        try {
          const r = await mp.probe(e.fileName, { kernmod: native });
          if (!r.ok) failed[e.name] = r.error?.code ?? 'failed';
        } catch (err) {
          failed[e.name] = (err as { code?: string }).code ?? (err as Error).message;
        }
      }),
    );
  }
  const rows = loadedNames().size;
  info.loading = {
    tried,
    failed: Object.keys(failed).length,
    failures: Object.fromEntries(Object.entries(failed).slice(0, 40)),
    ms: Math.round(since(t0)),
    modulesLoaded: rows,
  };
  log(`lsmod: ${rows} modules loaded (${tried} probed, ${Object.keys(failed).length} failed) in ${fmtS(since(t0))}`);
  if (rows < Math.min(100, o.lsmodModules)) throw new Error(`only ${rows} modules loaded; wanted ${o.lsmodModules}`);

  const REPS = 3;
  const vs = [
    { key: 'kmod', label: 'kmod lsmod process', run: (r: number) => spawnOk(o, `lsmod-kmod-${r}`, [['lsmod']]) },
    {
      key: 'cli',
      label: 'kernmod lsmod CLI process',
      run: (r: number) => spawnOk(o, `lsmod-kernmod-${r}`, [[process.execPath, o.cli, 'lsmod']]),
    },
  ];
  const samples: Record<string, number[]> = { kmod: [], cli: [], lib: [], libSync: [], libParams: [], kmodPair: [] };
  // `fields: 'lsmod'` reads what lsmod prints (coresize, refcnt, holders); the default
  // (`full`) reads every attribute and the parameters.
  const libTime = async (full: boolean): Promise<number> => {
    const t1 = performance.now();
    for (let i = 0; i < REPS; i++) await listModules(full ? {} : { fields: 'lsmod' });
    return since(t1) / REPS;
  };
  const libSyncTime = (): number => {
    const t1 = performance.now();
    for (let i = 0; i < REPS; i++) listModulesSync({ fields: 'lsmod' });
    return since(t1) / REPS;
  };
  // The target row's pair is timed back to back, REPS lsmod processes against REPS calls, in alternating
  // order: under TCG a lone lsmod process timed seconds before the calls varied by a third.
  const pairTime = (r: number): void => {
    const kmod = (): number => spawnOk(o, `lsmod-kmod-pair-${r}`, [['lsmod']], REPS).ms / REPS;
    if (r % 2) samples.libSync!.push(libSyncTime());
    samples.kmodPair!.push(kmod());
    if (!(r % 2)) samples.libSync!.push(libSyncTime());
  };
  await libTime(false); // warm-up
  await libTime(true);
  libSyncTime();
  for (let r = 0; r < o.rounds; r++) {
    const outs: Record<string, string> = {};
    for (const v of rotate(vs, r)) {
      const x = v.run(r);
      samples[v.key]!.push(x.ms);
      outs[v.key] = x.out;
    }
    samples.lib!.push(await libTime(false));
    samples.libParams!.push(await libTime(true));
    pairTime(r);
    const m = compareOutputs(o, `lsmod round ${r + 1}`, outs.cli!, outs.kmod!);
    if (m) ctx.mismatches.push(m);
    log(
      `lsmod: round ${r + 1}: kmod ${samples.kmod!.at(-1)!.toFixed(0)} ms, ` +
        `kernmod CLI ${samples.cli!.at(-1)!.toFixed(0)} ms, listModules() ${samples.lib!.at(-1)!.toFixed(1)} ms, ` +
        `listModulesSync() ${samples.libSync!.at(-1)!.toFixed(1)} ms against kmod ${samples.kmodPair!.at(-1)!.toFixed(0)} ms`,
    );
    if (r >= 2 && ctx.left() < 0) break;
  }
  log(
    `lsmod: kmod ${median(samples.kmod!).toFixed(0)} ms, ` +
      `kernmod CLI ${median(samples.cli!).toFixed(0)} ms, listModules() ${median(samples.lib!).toFixed(1)} ms`,
  );
  const t = (key: string, label: string): Timing => timing(label, 'run', 1, samples[key]);
  const kmod = t('kmod', 'kmod lsmod process');
  const note = `${rows} modules loaded`;
  ctx.comparisons.push(
    compare('lsmod.cli', `lsmod (${rows} modules): kernmod CLI vs lsmod`, t('cli', 'kernmod lsmod CLI process'), kmod, {
      notes: [note, 'node start-up dominates the CLI'],
    }),
    compare(
      'lsmod.lib',
      `lsmod (${rows} modules): listModules() in-process vs lsmod`,
      t('lib', "listModules({ fields: 'lsmod' }), in-process"),
      kmod,
      {
        notes: [note, `in-process, mean of ${REPS} calls per round; reads /proc/modules + sysfs coresize/refcnt/holders per module`],
      },
    ),
    compare(
      'lsmod.lib-sync',
      `lsmod (${rows} modules): listModulesSync() in-process vs lsmod`,
      t('libSync', "listModulesSync({ fields: 'lsmod' }), in-process"),
      t('kmodPair', 'kmod lsmod process'),
      {
        target: { maxRatio: 1, text: '<= 1.00x of lsmod (issue #20)' },
        notes: [
          note,
          'the same reads as listModules(), made synchronously',
          `per round the mean of ${REPS} calls against ${REPS} lsmod processes run just before or after`,
        ],
      },
    ),
    compare(
      'lsmod.lib-params',
      `lsmod (${rows} modules): listModules() with parameters vs lsmod`,
      t('libParams', 'listModules() (default: reads parameters too), in-process'),
      kmod,
      {
        notes: [
          note,
          'the default also reads initsize/version/srcversion/taint and every /sys/module/*/parameters value: more than lsmod does',
        ],
      },
    ),
  );
  // The modules stay loaded: the VM is thrown away after the run.
}

// ---- 6. depmod of the whole tree -------------------------------------------------------------------------------

/**
 * kmod's depmod and `kernmod depmod` over the same tree, each on its own symlink farm of it (kmod
 * follows the links as it would read a copy), rounds in ABBA order; the ten files must be identical.
 */
async function stepDepmod(ctx: StepContext): Promise<void> {
  const { o, info } = ctx;
  const src = `/lib/modules/${o.release}`;
  const files = moduleFiles(`${src}/kernel`);
  const xz = files.filter((f) => f.endsWith('.ko.xz')).length;
  const kind = xz > files.length / 2 ? '.ko.xz' : '.ko';
  info.files = files.length;
  const farm = (who: string): string => {
    const base = join(work, `depmod-${who}`);
    const dir = join(base, 'lib/modules', o.release);
    mkdirSync(dir, { recursive: true });
    const cp = spawnSync('cp', ['-as', `${src}/kernel`, dir]);
    if (cp.status !== 0) throw new Error(`cp -as ${src}/kernel: ${cp.stderr}`);
    for (const f of ['modules.order', 'modules.builtin', 'modules.builtin.modinfo'])
      if (existsSync(`${src}/${f}`)) copyFileSync(`${src}/${f}`, join(dir, f));
    return base;
  };
  const kBase = farm('kmod');
  const oBase = farm('kernmod');
  const kmodT = timing('kmod depmod -b FARM', 'tree', 1);
  const oursT = timing('kernmod depmod CLI -b FARM', 'tree', 1);
  const run = (r: number, who: 'kmod' | 'kernmod'): void => {
    const cmd = who === 'kmod' ? ['depmod', '-b', kBase, o.release] : [process.execPath, o.cli, 'depmod', '-b', oBase, o.release];
    const x = spawnOk(o, `depmod-${who}-${r}`, [cmd]);
    (who === 'kmod' ? kmodT : oursT).samplesMs.push(x.ms);
  };
  for (let r = 0; r < Math.min(o.rounds, 3); r++) {
    if (r > 0 && (kmodT.samplesMs.at(-1)! + oursT.samplesMs.at(-1)!) * 1.15 > ctx.left()) {
      info.roundsNote = `stopped after ${r} round(s) (the step's budget)`;
      break;
    }
    for (const who of r % 2 === 0 ? (['kmod', 'kernmod'] as const) : (['kernmod', 'kmod'] as const)) run(r, who);
    for (const f of OUTPUT_FILES) {
      const m = compareOutputs(o, `depmod ${f}`, join(oBase, 'lib/modules', o.release, f), join(kBase, 'lib/modules', o.release, f));
      if (m) ctx.mismatches.push(m);
    }
    log(`depmod: round ${r + 1}: kmod ${fmtS(kmodT.samplesMs.at(-1)!)}, kernmod ${fmtS(oursT.samplesMs.at(-1)!)}`);
  }
  ctx.comparisons.push(
    compare(`depmod${kind === '.ko.xz' ? '.xz' : '.ko'}`, `depmod whole tree (${files.length} ${kind}): CLI vs kmod`, oursT, kmodT, {
      target: kind === '.ko.xz' ? { maxRatio: 1 / 1.5, text: '>= 1.5x faster' } : { maxRatio: 1, text: 'no slower' },
      notes: ['one process each, includes node start-up for kernmod', ...(info.roundsNote ? [String(info.roundsNote)] : [])],
    }),
  );
}

// ---- main ------------------------------------------------------------------------------------------------

function toolVersion(cmd: string[]): string {
  const r = spawnSync(cmd[0]!, cmd.slice(1), { encoding: 'utf8' });
  return (r.stdout || r.stderr || '').split('\n')[0]?.trim() ?? '';
}

async function main(): Promise<number> {
  const o = parseOptions();
  logPrefix = `[bench ${o.release}${o.where === 'host' ? ' host' : ''}]`;
  if (!existsSync(o.ioDir)) mkdirSync(o.ioDir, { recursive: true });
  let compression: string | null = null;
  try {
    compression = readFileSync('/sys/module/compression', 'utf8').trim() || null;
  } catch {
    /* none */
  }
  const started = performance.now();
  const result: GuestResult = {
    release: o.release,
    where: o.where,
    cpus: cpus().length,
    node: process.version,
    kmod: toolVersion(['kmod', '--version']),
    kernelCompression: o.where === 'vm' ? compression : null,
    startedAt: new Date().toISOString(),
    durationMs: 0,
    steps: [],
  };
  const save = (): void => {
    result.durationMs = Math.round(since(started));
    writeFileSync(o.out, JSON.stringify(result, null, 2) + '\n');
  };
  save();
  const impl: Record<StepName, (c: StepContext) => Promise<void>> = {
    cycle: stepCycle,
    modinfo: stepModinfo,
    resolve: stepResolve,
    probe: stepProbe,
    lsmod: stepLsmod,
    depmod: stepDepmod,
  };
  // probe before lsmod: the mass load of step 4 would leave the probe sets' dependencies loaded.
  const order: StepName[] = ['cycle', 'modinfo', 'resolve', 'probe', 'lsmod', 'depmod'];
  for (const name of order.filter((s) => o.steps.includes(s))) {
    const t0 = performance.now();
    const ctx: StepContext = {
      o,
      info: {},
      mismatches: [],
      comparisons: [],
      left: () => Math.min(o.budgetMs[name] - since(t0), o.timeLimitMs - since(started)),
    };
    log(`${name}: start`);
    let error: string | undefined;
    try {
      if (since(started) > o.timeLimitMs)
        throw new Error(`not run: the bench's time limit (${fmtS(o.timeLimitMs)}) was used up by the steps before; raise --timeout`);
      await impl[name](ctx);
    } catch (e) {
      error = (e as Error)?.stack ?? String(e);
      log(`${name}: ERROR ${(e as Error)?.message ?? e}`);
    }
    const step: StepResult = {
      name,
      ok: error === undefined && ctx.mismatches.length === 0,
      ...(error !== undefined ? { error } : {}),
      mismatches: ctx.mismatches,
      comparisons: ctx.comparisons,
      info: ctx.info,
      durationMs: Math.round(since(t0)),
    };
    for (const m of ctx.mismatches) log(`${name}: OUTPUT MISMATCH ${m.what}: ${m.detail}`);
    log(`${name}: done in ${fmtS(step.durationMs)}`);
    result.steps.push(step);
    save();
  }
  rmSync(work, { recursive: true, force: true });
  return 0;
}

process.exitCode = await main().catch((e: unknown) => {
  process.stderr.write(`bench guest: ${(e as Error)?.stack ?? e}\n`);
  return 2;
});
