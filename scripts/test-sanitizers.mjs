#!/usr/bin/env node
// The native addons' own checks, for CI (`npm test` runs this; it takes a few minutes):
//  1. clang-format: native/ is formatted as .clang-format says (`clang-format --dry-run --Werror`).
//  2. AddressSanitizer + UndefinedBehaviorSanitizer: both addons built a second time with
//     -fsanitize=address,undefined into .cache/sanitizers/ (never over build/), and the unit tests that
//     exercise them (worker termination, detached buffers, concurrent calls, every backend call) run
//     against that build (KERNMOD_NATIVE_DIR) under node with the sanitizer runtimes preloaded: node
//     itself is not instrumented, so libasan must come first in the process to see every allocation.
//     The build defines KERNMOD_SANITIZE_READS: the addon reads an image the way the kernel's copy will,
//     so a call made with memory that is no longer its own is reported on a host whose kernel answers
//     ENOSYS without reading it.
// Prints one closing line: `N passed, N failed`. A step that cannot run (no clang-format, no
// libasan) counts as failed and says why: CI machines get both from scripts/setup.sh.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, realpathSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const work = join(root, '.cache', 'sanitizers'); // inside the tree so that node-addon-api resolves
const TESTS = [
  'test/unit/native-binding.test.ts',
  'test/unit/native-xz.test.ts',
  'test/unit/backend-conformance.test.ts',
  'test/unit/depmod-native-reader.test.ts',
  'test/unit/fuzz-depmod-native.test.ts',
];

let passed = 0;
let failed = 0;
const fail = (what) => {
  console.log(`sanitizers: FAIL ${what}`);
  failed += 1;
};

// ---- 1. clang-format ---------------------------------------------------------------------------------
const sources = readdirSync(join(root, 'native'))
  .filter((f) => /\.(cc|h)$/.test(f))
  .map((f) => join('native', f));
const format = spawnSync('clang-format', ['--dry-run', '--Werror', ...sources], { cwd: root, encoding: 'utf8' });
if (format.error) fail(`clang-format did not run (${format.error.message}): install it (scripts/setup.sh)`);
else if (format.status !== 0)
  fail(
    `native/ is not formatted as .clang-format says (run: clang-format -i native/*.cc ` +
      `native/*.h)\n${format.stderr.split('\n').slice(0, 20).join('\n')}`,
  );
else {
  console.log(`sanitizers: clang-format: ${sources.length} files formatted`);
  passed += 1;
}

// ---- 2. the sanitizer build ----------------------------------------------------------------------------
function runtime(name) {
  const r = spawnSync('g++', [`-print-file-name=${name}`], { encoding: 'utf8' });
  const path = r.stdout?.trim();
  return r.status === 0 && path && path !== name && existsSync(path) ? realpathSync(path) : null;
}

function build() {
  const prefix = dirname(dirname(process.execPath)); // <prefix>/bin/node -> <prefix>/include/node
  if (!existsSync(join(prefix, 'include', 'node', 'node_api.h'))) return `no Node headers under ${prefix}/include/node`;
  const gyp = require.resolve('node-gyp/bin/node-gyp.js');
  rmSync(work, { recursive: true, force: true });
  mkdirSync(join(work, 'scripts'), { recursive: true });
  cpSync(join(root, 'binding.gyp'), join(work, 'binding.gyp'));
  cpSync(join(root, 'native'), join(work, 'native'), { recursive: true });
  cpSync(join(root, 'scripts', 'has-lzma.mjs'), join(work, 'scripts', 'has-lzma.mjs'));
  const flags = '-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g -O1 -DKERNMOD_SANITIZE_READS=1';
  // -fno-rtti (node-gyp's default for addons) leaves UBSan's vptr check nothing to check with.
  const env = { ...process.env, CXXFLAGS: `${flags} -fno-sanitize=vptr`, LDFLAGS: '-fsanitize=address,undefined' };
  for (const step of ['configure', 'build']) {
    const r = spawnSync(process.execPath, [gyp, step, `--nodedir=${prefix}`, '--release', `--jobs=2`], {
      cwd: work,
      env,
      encoding: 'utf8',
    });
    if (r.status !== 0) {
      const lines = `${r.stdout}${r.stderr}`.split('\n');
      const errors = lines.filter((l) => /\berror\b/.test(l));
      return `node-gyp ${step} exited with ${r.status ?? r.signal}:\n${(errors.length ? errors : lines).slice(-25).join('\n')}`;
    }
  }
  return null;
}

const asan = runtime('libasan.so');
const ubsan = runtime('libubsan.so');
if (!asan || !ubsan)
  fail(`the sanitizer runtimes were not found (g++ -print-file-name=libasan.so / libubsan.so): install g++ (scripts/setup.sh)`);
else {
  const error = build();
  if (error) fail(`the sanitizer build failed: ${error}`);
  else {
    const out = mkdtempSync(join(tmpdir(), 'kernmod-sanitizers-'));
    const json = join(out, 'result.json');
    const env = {
      ...process.env,
      KERNMOD_NATIVE_DIR: join(work, 'build', 'Release'),
      LD_PRELOAD: `${asan}:${ubsan}`,
      // Node frees little at exit by design: leak reports would be about node, not the addon.
      // abort_on_error: a report ends the process that made it, which the tests see as a failed child.
      ASAN_OPTIONS: 'detect_leaks=0:abort_on_error=1:halt_on_error=1',
      UBSAN_OPTIONS: 'halt_on_error=1:print_stacktrace=1',
    };
    const r = spawnSync(
      process.execPath,
      [
        join(root, 'node_modules/vitest/vitest.mjs'),
        'run',
        '--project',
        'unit',
        '--reporter=default',
        '--reporter=json',
        `--outputFile.json=${json}`,
        ...TESTS,
      ],
      { cwd: root, env, stdio: 'inherit' },
    );
    try {
      const result = JSON.parse(readFileSync(json, 'utf8'));
      passed += result.numPassedTests;
      failed += result.numFailedTests;
      console.log(`sanitizers: ASan+UBSan: ${result.numPassedTests} passed, ${result.numFailedTests} failed`);
      if (r.status !== 0 && result.numFailedTests === 0) fail(`vitest exited with ${r.status ?? r.signal} (a sanitizer report?)`);
    } catch {
      fail(`the tests under the sanitizers produced no results (exit ${r.status ?? r.signal})`);
    }
    rmSync(out, { recursive: true, force: true });
  }
}

console.log(`${passed} passed, ${failed} failed`);
process.exitCode = failed > 0 ? 1 : 0;
