// The shape of what bench/guest.ts writes ($KERNMOD_VM_IO/bench.json) and bench/run.ts reads, plus the
// small statistics both use. Pure.

/** One side of a comparison: repeated timings of the same work, in ms. */
export interface Timing {
  /** What ran, e.g. "kernmod native sync (in-process)", "kmod insmod + rmmod processes". */
  label: string;
  /** One sample per round, ms for the whole unit of work (e.g. 40 cycles, the whole tree). */
  samplesMs: number[];
  /** Work items per sample (cycles, files, names, ...), for per-item figures. */
  items: number;
  /** What an item is: 'cycle', 'file', 'name', 'run'. */
  unit: string;
}

export interface Target {
  /** kernmod/baseline must be at most this. */
  maxRatio: number;
  /** As written in the issue, e.g. "<= 1.10x of C", ">= 3x faster". */
  text: string;
}

export interface Comparison {
  /** Stable id, e.g. "cycle.native-sync.vs-c". */
  id: string;
  /** Table label. */
  test: string;
  kernmod: Timing;
  baseline: Timing;
  /**
   * kernmod time / baseline time, per item: the median over rounds of the ratio within each round
   * (both sides measured side by side in that round), or the ratio of medians when the two sides have
   * different round counts. < 1 means kernmod is faster.
   */
  ratio: number;
  ratioMethod: 'paired-median' | 'median-ratio';
  target?: Target;
  met?: boolean;
  /** What limits this figure, sampling done, etc. */
  notes: string[];
}

export interface Mismatch {
  what: string;
  detail: string;
  /** Files in the VM io dir holding both outputs (the host copies them to bench/results/). */
  files?: string[];
}

export interface StepResult {
  name: string;
  ok: boolean;
  /** A step that threw: the message (the bench then exits non-zero). */
  error?: string;
  /** Outputs that differed between kernmod and kmod (the bench then exits non-zero). */
  mismatches: Mismatch[];
  comparisons: Comparison[];
  /** Step facts: counts, sampling, what was loaded, skipped modules... */
  info: Record<string, unknown>;
  durationMs: number;
}

export interface GuestResult {
  release: string;
  /** Where the steps ran: 'vm' (the guest) or 'host' (the host-control run of the read-only steps). */
  where: 'vm' | 'host';
  cpus: number;
  node: string;
  kmod: string;
  /** /sys/module/compression, or null. */
  kernelCompression: string | null;
  startedAt: string;
  durationMs: number;
  steps: StepResult[];
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Median of a timing, per item. */
export function perItem(t: Timing): number {
  return median(t.samplesMs) / t.items;
}

/** Builds a comparison: paired per-round ratios when both sides have the same number of rounds. */
export function compare(
  id: string,
  test: string,
  kernmod: Timing,
  baseline: Timing,
  opts: { target?: Target; notes?: string[] } = {},
): Comparison {
  let ratio: number;
  let ratioMethod: Comparison['ratioMethod'];
  if (kernmod.samplesMs.length === baseline.samplesMs.length && kernmod.samplesMs.length > 0) {
    ratio = median(kernmod.samplesMs.map((k, i) => k / kernmod.items / (baseline.samplesMs[i]! / baseline.items)));
    ratioMethod = 'paired-median';
  } else {
    ratio = perItem(kernmod) / perItem(baseline);
    ratioMethod = 'median-ratio';
  }
  const c: Comparison = { id, test, kernmod, baseline, ratio, ratioMethod, notes: opts.notes ?? [] };
  if (opts.target) {
    c.target = opts.target;
    c.met = ratio <= opts.target.maxRatio;
  }
  return c;
}
