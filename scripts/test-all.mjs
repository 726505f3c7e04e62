#!/usr/bin/env node
// `npm test`: the typecheck, the lint and the unit suite on this host, the native addons under sanitizers, then the kernel
// suite in qemu VMs on both test kernels (pass `--kernel 6.12` etc. through to limit it). Prints one closing line:
// `N passed, N failed`.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const args = process.argv.slice(2);
const root = new URL('..', import.meta.url).pathname;
const tmp = mkdtempSync(join(tmpdir(), 'kernmod-test-'));
let passed = 0;
let failed = 0;
let skipped = 0;

// 0. the typecheck of everything, tests included (tsc -p tsconfig.test.json): one test that passes or fails
const typecheck = spawnSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.test.json'], {
  cwd: root,
  stdio: 'inherit',
});
if (typecheck.status === 0) passed += 1;
else failed += 1;
console.log(`typecheck: ${typecheck.status === 0 ? 'passed' : `failed (exit ${typecheck.status})`}`);

// 0b. lint (npm run lint): Biome's rules and format, knip's unused files, exports and dependencies, and the
// 140-character lines the formatter cannot shorten: one test
const lintSteps = {
  biome: [join(root, 'node_modules/@biomejs/biome/bin/biome'), 'check', '--error-on-warnings'],
  knip: [join(root, 'node_modules/knip/bin/knip.js'), '--no-progress'],
  lines: [join(root, 'scripts/check-line-length.mjs')],
};
const lintFailed = Object.keys(lintSteps).filter(
  (name) => spawnSync(process.execPath, lintSteps[name], { cwd: root, stdio: 'inherit' }).status !== 0,
);
if (lintFailed.length > 0) failed += 1;
else passed += 1;
console.log(`lint: ${lintFailed.length > 0 ? `failed (${lintFailed.join(', ')})` : 'passed'}`);

// 1. unit suite (host)
const unitJson = join(tmp, 'unit.json');
const unit = spawnSync(
  process.execPath,
  [
    join(root, 'node_modules/vitest/vitest.mjs'),
    'run',
    '--project',
    'unit',
    '--reporter=default',
    '--reporter=json',
    `--outputFile.json=${unitJson}`,
  ],
  { cwd: root, stdio: 'inherit' },
);
try {
  const r = JSON.parse(readFileSync(unitJson, 'utf8'));
  passed += r.numPassedTests;
  failed += r.numFailedTests;
  skipped += r.numPendingTests + (r.numTodoTests ?? 0);
  console.log(`unit: ${r.numPassedTests} passed, ${r.numFailedTests} failed`);
} catch {
  console.log(`unit: the suite produced no results (exit ${unit.status})`);
  failed += 1;
}
if (unit.status !== 0 && failed === 0) failed += 1;

// 1b. the native addons under ASan + UBSan, and native/'s formatting (scripts/test-sanitizers.mjs)
const sanitizers = spawnSync(process.execPath, [join(root, 'scripts/test-sanitizers.mjs')], {
  cwd: root,
  stdio: ['inherit', 'pipe', 'inherit'],
  encoding: 'utf8',
});
process.stdout.write(sanitizers.stdout ?? '');
const sanitizersLine = /^(\d+) passed, (\d+) failed$/m.exec(sanitizers.stdout ?? '');
if (sanitizersLine) {
  passed += Number(sanitizersLine[1]);
  failed += Number(sanitizersLine[2]);
}
if (!sanitizersLine || (sanitizers.status !== 0 && Number(sanitizersLine[2]) === 0)) {
  console.log(`sanitizers: the run did not finish cleanly (exit ${sanitizers.status ?? sanitizers.signal})`);
  failed += 1;
}

// 2. kernel suite (qemu guests)
// Streamed as it runs (a boot takes seconds, a phase about a minute), and kept to find its summary line.
const kernel = await new Promise((resolve) => {
  const child = spawn(process.execPath, [join(root, 'dist/vm/run-kernel-suite.js'), ...args], {
    cwd: root,
    stdio: ['inherit', 'pipe', 'inherit'],
  });
  let stdout = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk) => {
    stdout += chunk;
    process.stdout.write(chunk);
  });
  child.on('close', (status) => resolve({ status, stdout }));
});
const line = kernel.stdout
  .split('\n')
  .reverse()
  .find((l) => /^\d+ passed, \d+ failed/.test(l));
if (line) {
  const [, p, f, s] = /^(\d+) passed, (\d+) failed(?:, (\d+) skipped)?/.exec(line);
  passed += Number(p);
  failed += Number(f);
  skipped += Number(s ?? 0);
}
if (!line || (kernel.status !== 0 && Number(/(\d+) failed/.exec(line ?? '')?.[1] ?? 0) === 0)) {
  console.log(`kernel: the suite did not finish cleanly (exit ${kernel.status})`);
  failed += 1;
}
rmSync(tmp, { recursive: true, force: true });
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exitCode = failed > 0 ? 1 : 0;
