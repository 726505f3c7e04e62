// The start-up step (issue #20), on the host: each CLI command a user types, as a process, against
// `node -e 0` started the same way in the same round. Rounds run the processes in a rotating order
// (after warm-ups), so load from other work on the machine falls on every side alike; each ratio is
// the median of the per-round ratios. The CLI is what `bin` points to (dist/lib/cli/kernmod.cjs).
// The host's kernel may have no module support: lsmod then measures its error path, which says so.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { compare, type Comparison, type StepResult, type Timing } from './results-types.js';

export interface StartupOptions {
  /** The CLI file `bin` points to. */
  cli: string;
  /** An installed kernel release whose module tree the commands read (modinfo, modprobe -D). */
  release: string;
  rounds: number;
  warmups?: number;
}

const TARGET = { maxRatio: 1.25, text: '<= 1.25x of node -e 0' };

interface Side {
  key: string;
  label: string;
  argv: string[];
}

function sides(o: StartupOptions): Side[] {
  const tree = `/lib/modules/${o.release}`;
  const node = process.execPath;
  const cli = (key: string, label: string, ...args: string[]): Side => ({ key, label: `kernmod ${label}`, argv: [node, o.cli, ...args] });
  return [
    { key: 'node', label: 'node -e 0', argv: [node, '-e', '0'] },
    cli('help', '--help', '--help'),
    cli('modinfo-file', 'modinfo -F vermagic loop.ko', 'modinfo', '-F', 'vermagic', `${tree}/kernel/drivers/block/loop.ko`),
    cli('modinfo-name', 'modinfo -F vermagic -k REL loop', 'modinfo', '-F', 'vermagic', '-k', o.release, 'loop'),
    cli('modprobe-D', 'modprobe -D -S REL 8021q', 'modprobe', '-D', '-S', o.release, '8021q'),
    cli('lsmod', 'lsmod', 'lsmod'),
  ];
}

function rotate<T>(xs: readonly T[], by: number): T[] {
  return xs.map((_, i) => xs[(i + by) % xs.length]!);
}

/** One process, start to exit, in ms; its exit status is kept to check that every round did the same. */
function timeProcess(argv: string[]): { ms: number; status: number | null } {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(argv[0]!, argv.slice(1), { stdio: 'ignore' });
  return { ms: Number(process.hrtime.bigint() - t0) / 1e6, status: r.status };
}

export function runStartupStep(o: StartupOptions): StepResult {
  const started = performance.now();
  const step: StepResult = { name: 'startup', ok: true, mismatches: [], comparisons: [], info: {}, durationMs: 0 };
  try {
    if (!existsSync(o.cli)) throw new Error(`${o.cli} is missing: npm run build:ts`);
    const all = sides(o);
    const samples = new Map<string, number[]>(all.map((s) => [s.key, []]));
    const statuses = new Map<string, Set<number | null>>(all.map((s) => [s.key, new Set()]));
    for (let w = 0; w < (o.warmups ?? 3); w++) for (const s of all) timeProcess(s.argv);
    for (let r = 0; r < o.rounds; r++) {
      for (const s of rotate(all, r)) {
        const x = timeProcess(s.argv);
        samples.get(s.key)!.push(x.ms);
        statuses.get(s.key)!.add(x.status);
      }
    }
    const timing = (s: Side): Timing => ({ label: s.label, samplesMs: samples.get(s.key)!, items: 1, unit: 'run' });
    const base = timing(all[0]!);
    const noModules = !existsSync('/proc/modules');
    step.comparisons = all.slice(1).map((s): Comparison => {
      const notes = [`exit status ${[...statuses.get(s.key)!].join('/')}`];
      if (s.key === 'lsmod' && noModules) notes.push("this host has no /proc/modules: lsmod's error path");
      return compare(`startup.${s.key}`, `start-up: ${s.label} vs node -e 0`, timing(s), base, { target: TARGET, notes });
    });
    step.info = { rounds: o.rounds, release: o.release, cli: o.cli };
    for (const [key, set] of statuses)
      if (set.size > 1)
        step.mismatches.push({ what: `startup ${key}`, detail: `exit status varied between rounds: ${[...set].join(', ')}` });
  } catch (e) {
    step.ok = false;
    step.error = (e as Error).message;
  }
  step.ok = step.ok && step.mismatches.length === 0;
  step.durationMs = performance.now() - started;
  return step;
}
