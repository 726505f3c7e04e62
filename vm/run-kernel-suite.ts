// `npm run test:kernel` = node dist/vm/run-kernel-suite.js [--kernel 6.1|6.12|...]... [--phase main|restricted]...
//                                                      [--timeout SEC] [--accel auto|kvm|tcg]
//                                                      [--file test/kernel/<phase>/X.test.ts]...
// For each kernel (default: 6.1 and 6.12): build the test modules for it, then boot it twice and
// run the vitest "kernel" project inside: phase "main" (test/kernel/main) on a normal boot, phase
// "restricted" (test/kernel/restricted) with module.sig_enforce=1. Ends with one line
// "N passed, N failed[, N skipped]"; exits non-zero if anything failed or a boot went wrong.
// Evidence per boot (output, dmesg, vitest JSON) is kept under test-results/kernel/<release>/<phase>/.
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { buildTestModules } from '../modules-src/build.js';
import { parseAccelRequest, type AccelRequest } from './accel.js';
import { resolveKernel, type KernelInfo } from './kernels.js';
import { projectRoot } from './paths.js';
import { GUEST_IO_DIR, runInVm, type VmRunResult } from './run.js';

interface Phase {
  name: string;
  dir: string;
  append: string[];
}

const PHASES: Phase[] = [
  { name: 'main', dir: 'test/kernel/main', append: [] },
  { name: 'restricted', dir: 'test/kernel/restricted', append: ['module.sig_enforce=1'] },
];

export interface PhaseCounts {
  passed: number;
  failed: number;
  skipped: number;
}

/** Subset of vitest's JSON reporter output that we read. */
interface VitestJson {
  numPassedTests?: number;
  numFailedTests?: number;
  numPendingTests?: number;
  numTodoTests?: number;
  testResults?: { name?: string; status?: string; message?: string; assertionResults?: { status?: string }[] }[];
}

/**
 * Counts from a vitest JSON report. A test file that fails to load (import error, throwing
 * top-level code) has no failed tests, only a failed file: it counts as one failure, so a broken
 * file cannot pass unnoticed.
 */
export function countResults(json: VitestJson): PhaseCounts & { brokenFiles: string[] } {
  const brokenFiles = (json.testResults ?? [])
    .filter((f) => f.status === 'failed' && !(f.assertionResults ?? []).some((a) => a.status === 'failed'))
    .map((f) => f.name ?? '?');
  return {
    passed: json.numPassedTests ?? 0,
    failed: (json.numFailedTests ?? 0) + brokenFiles.length,
    skipped: (json.numPendingTests ?? 0) + (json.numTodoTests ?? 0),
    brokenFiles,
  };
}

export function summaryLine(c: PhaseCounts): string {
  return `${c.passed} passed, ${c.failed} failed${c.skipped ? `, ${c.skipped} skipped` : ''}`;
}

function tail(text: string, lines: number): string {
  return text.replace(/\n+$/, '').split('\n').slice(-lines).join('\n');
}

function secs(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

function hasTests(dir: string): boolean {
  try {
    return readdirSync(join(projectRoot(), dir), { recursive: true }).some((f) => String(f).endsWith('.test.ts'));
  } catch {
    return false;
  }
}

async function runPhase(
  kernel: KernelInfo,
  phase: Phase,
  modulesDir: string,
  o: { timeoutMs: number; accel?: AccelRequest; files?: string[] },
): Promise<{ counts: PhaseCounts; line: string }> {
  const root = projectRoot();
  const vitest = join(root, 'node_modules', 'vitest', 'vitest.mjs');
  // A run limited to some files keeps its evidence apart, so that two such runs never share a folder.
  const evidence = join(root, 'test-results', 'kernel', kernel.release, o.files ? `${phase.name}-files-${process.pid}` : phase.name);
  rmSync(evidence, { recursive: true, force: true });
  mkdirSync(evidence, { recursive: true });
  const label = `${kernel.release} ${phase.name}`;
  console.log(`\n=== ${label}${phase.append.length ? ` (${phase.append.join(' ')})` : ''} ===`);

  let r: VmRunResult;
  try {
    r = await runInVm(
      [
        process.execPath,
        vitest,
        'run',
        // The default config loader writes a bundled copy of vitest.config.ts into node_modules,
        // which is read-only in the guest.
        '--configLoader',
        'runner',
        '--project',
        'kernel',
        ...(o.files ?? [phase.dir]),
        '--reporter=default',
        '--reporter=json',
        `--outputFile.json=${GUEST_IO_DIR}/results.json`,
      ],
      {
        kernel: kernel.release,
        append: phase.append,
        timeoutMs: o.timeoutMs,
        ...(o.accel ? { accel: o.accel } : {}),
        cwd: root,
        env: { KERNMOD_TEST_MODULES: modulesDir },
        echo: true,
        log: (s) => console.log(s),
        // A boot that panics before vitest starts ran no test; boot once more and say so below.
        bootRetries: 1,
      },
    );
  } catch (e) {
    console.log(`${label}: could not start the VM: ${(e as Error).message}`);
    return { counts: { passed: 0, failed: 1, skipped: 0 }, line: `${label}: VM did not start (counted as 1 failure)` };
  }

  r.earlyDeaths.forEach((c, i) => writeFileSync(join(evidence, `early-death-${i + 1}-console.txt`), c + '\n'));
  writeFileSync(join(evidence, 'output.txt'), r.output);
  writeFileSync(join(evidence, 'dmesg.txt'), r.dmesg);
  writeFileSync(join(evidence, 'console.txt'), r.console);
  const resultsPath = join(r.ioDir, 'results.json');
  const retried = r.earlyDeaths.length ? `, after ${r.earlyDeaths.length} boot(s) that died before the tests started` : '';
  const timing = `boot ${r.bootMs >= 0 ? secs(r.bootMs) : 'n/a'}, total ${secs(r.durationMs)}, ${r.accel}${retried}`;

  if (!existsSync(resultsPath)) {
    const why = r.timedOut
      ? `timed out after ${secs(r.durationMs)}`
      : r.exitCode === -1
        ? 'guest died'
        : `no results (exit code ${r.exitCode})`;
    console.log(`\n--- ${label}: ${why}; last output/console lines ---\n${tail(r.output || r.console, 40)}`);
    console.log(`--- ${label}: dmesg tail ---\n${tail(r.dmesg, 40) || '(no dmesg: the guest did not get to save it)'}`);
    console.log(`(evidence in ${evidence}, io dir ${r.ioDir})`);
    return { counts: { passed: 0, failed: 1, skipped: 0 }, line: `${label}: ${why} (counted as 1 failure; ${timing})` };
  }

  copyFileSync(resultsPath, join(evidence, 'results.json'));
  let counts: PhaseCounts & { brokenFiles: string[] };
  try {
    counts = countResults(JSON.parse(readFileSync(resultsPath, 'utf8')) as VitestJson);
  } catch (e) {
    return { counts: { passed: 0, failed: 1, skipped: 0 }, line: `${label}: unreadable results.json: ${(e as Error).message}` };
  }
  // Belt and braces: vitest failing without any failure in its report (e.g. an unhandled error
  // after the tests) still fails the phase.
  let extra = '';
  if (r.exitCode !== 0 && counts.failed === 0) {
    counts.failed = 1;
    extra = `; vitest exited ${r.exitCode}${r.timedOut ? ' (timeout)' : ''} without failed tests, counted as 1 failure`;
  }
  if (counts.brokenFiles.length) extra += `; files that failed to run: ${counts.brokenFiles.join(', ')}`;
  rmSync(r.ioDir, { recursive: true, force: true });
  return { counts, line: `${label}: ${summaryLine(counts)} (${timing})${extra}` };
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      kernel: { type: 'string', multiple: true },
      phase: { type: 'string', multiple: true },
      timeout: { type: 'string' },
      accel: { type: 'string' },
      file: { type: 'string', multiple: true },
    },
  });
  const specs = values.kernel?.length ? values.kernel : ['6.1', '6.12'];
  const phases = values.phase?.length ? PHASES.filter((p) => values.phase?.includes(p.name)) : PHASES;
  if (values.phase?.some((n) => !PHASES.some((p) => p.name === n))) {
    console.error(`--phase: expected ${PHASES.map((p) => p.name).join(' or ')}`);
    return 2;
  }
  const timeoutMs = values.timeout ? Number(values.timeout) * 1000 : 15 * 60_000;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
    console.error('--timeout: expected seconds');
    return 2;
  }
  const accel = parseAccelRequest(values.accel, '--accel');

  const total: PhaseCounts = { passed: 0, failed: 0, skipped: 0 };
  const lines: string[] = [];
  const add = (c: PhaseCounts, line: string) => {
    total.passed += c.passed;
    total.failed += c.failed;
    total.skipped += c.skipped;
    lines.push(line);
  };

  for (const spec of specs) {
    let kernel: KernelInfo;
    let modulesDir: string;
    try {
      kernel = resolveKernel(spec);
      const outRoot = join(projectRoot(), '.cache', 'test-modules');
      const set = await buildTestModules({ release: kernel.release, outRoot, log: (s) => console.log(s) });
      modulesDir = join(outRoot, set.release);
    } catch (e) {
      console.log(`kernel ${spec}: ${(e as Error).message}`);
      add({ passed: 0, failed: 1, skipped: 0 }, `${spec}: setup failed (counted as 1 failure): ${(e as Error).message.split('\n')[0]}`);
      continue;
    }
    for (const phase of phases) {
      const files = values.file?.filter((f) => f.startsWith(`${phase.dir}/`));
      if (values.file?.length && !files?.length) continue;
      if (!hasTests(phase.dir)) {
        lines.push(`${kernel.release} ${phase.name}: no tests in ${phase.dir}`);
        continue;
      }
      const { counts, line } = await runPhase(kernel, phase, modulesDir, {
        timeoutMs,
        ...(accel ? { accel } : {}),
        ...(files?.length ? { files } : {}),
      });
      add(counts, line);
    }
  }

  console.log('\n=== kernel suite summary ===');
  for (const l of lines) console.log(l);
  console.log(summaryLine(total));
  return total.failed > 0 ? 1 : 0;
}

// Run only as a script, so the pure helpers above can be imported by unit tests.
if (process.argv[1] && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href) {
  process.exitCode = await main();
}
