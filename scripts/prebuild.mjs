#!/usr/bin/env node
// Builds the prebuilt addons that `npm pack` ships: prebuilds/<platform>-<arch>-<libc>/kernmod.node
// (+ kernmod_xz.node where liblzma is linked). Node-API: one build serves every Node version.
//
//   linux-x64-glibc    this machine's g++, kernmod_xz against liblzma (liblzma.so.5 at run time)
//   linux-arm64-glibc  Debian's cross compiler (g++-aarch64-linux-gnu); kernmod.node only: without the
//                      kernmod_xz addon kernmod decodes .ko.xz with @napi-rs/lzma, so no arm64 liblzma
//
// Checks: every file must be an ELF of its target's machine. The host's addon must load in this Node.
// A cross-built addon is loaded by its own architecture's dynamic linker under qemu-user
// (qemu-aarch64-static, Debian's qemu-user-static) with Debian's arm64 glibc and libstdc++: a small C
// program dlopen()s it with Node-API stubbed and finds napi_register_module_v1. That proves it links and
// its constructors run there; test/unit/package-arm64.test.ts then runs it from the packed tarball in
// an arm64 Node (fetched by scripts/setup.sh), where its calls are exercised.
//
// Each target is built in a scratch copy of binding.gyp + native/, so the checkout's build/ (the local
// build, which the loader prefers) is never touched. A target whose outputs are newer than every input
// is kept as it is. A target whose compiler is missing is skipped with a note, unless --all is given
// (CI), which makes every target required.
import { spawnSync } from 'node:child_process';
import {
  closeSync,
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const requireAll = process.argv.includes('--all');
const require = createRequire(import.meta.url);

/** ELF e_machine of each arch, to check what the compiler produced. */
const EM = { x64: 62, arm64: 183 };

const TARGETS = [
  { triple: 'linux-x64-glibc', arch: 'x64', host: true, addons: ['kernmod', 'kernmod_xz'], env: {} },
  {
    triple: 'linux-arm64-glibc',
    arch: 'arm64',
    host: false,
    addons: ['kernmod'],
    env: { CC: 'aarch64-linux-gnu-gcc', CXX: 'aarch64-linux-gnu-g++', LINK: 'aarch64-linux-gnu-g++', AR: 'aarch64-linux-gnu-ar' },
    gypDefines: ['-Dhave_lzma=0'],
    qemu: { cmd: 'qemu-aarch64-static', sysroot: '/usr/aarch64-linux-gnu', nm: 'aarch64-linux-gnu-nm' },
  },
];

function which(cmd) {
  return spawnSync('sh', ['-c', `command -v "${cmd}"`], { encoding: 'utf8' }).status === 0;
}

function inputs() {
  const files = ['binding.gyp', 'scripts/has-lzma.mjs', 'scripts/prebuild.mjs'];
  for (const f of readdirSync(join(root, 'native'))) if (/\.(cc|h)$/.test(f)) files.push(`native/${f}`);
  return files.map((f) => join(root, f));
}

function upToDate(outputs) {
  if (!outputs.every((o) => existsSync(o))) return false;
  const newestInput = Math.max(...inputs().map((f) => statSync(f).mtimeMs));
  return outputs.every((o) => statSync(o).mtimeMs > newestInput);
}

function elfMachine(path) {
  const fd = openSync(path, 'r');
  try {
    const b = Buffer.alloc(20);
    readSync(fd, b, 0, 20, 0);
    return b.readUInt32BE(0) === 0x7f454c46 ? b.readUInt16LE(18) : -1;
  } finally {
    closeSync(fd);
  }
}

const DLOPEN_CHECK = `#include <dlfcn.h>
#include <stdio.h>
int main(int argc, char **argv) {
  void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (!h) { fprintf(stderr, "%s\\n", dlerror()); return 1; }
  return dlsym(h, "napi_register_module_v1") ? 0 : 2;
}
`;

/** Loads a cross-built addon with its own architecture's dynamic linker under qemu-user (see above). */
function checkUnderQemu(t, file) {
  const q = t.qemu;
  if (!which(q.cmd)) {
    if (requireAll) throw new Error(`${t.triple}: ${q.cmd} is not installed (scripts/setup.sh installs it)`);
    return 'not load-tested: no qemu-user';
  }
  const dir = mkdtempSync(join(tmpdir(), `kernmod-qemu-${t.triple}-`));
  try {
    const nm = spawnSync(q.nm, ['-D', '--undefined-only', file], { encoding: 'utf8' });
    const nodeSymbols = nm.stdout
      .split('\n')
      .map((l) => l.trim().split(/\s+/).pop())
      .filter((s) => /^(napi_|node_api_|uv_)/.test(s ?? ''));
    writeFileSync(join(dir, 'stubs.c'), nodeSymbols.map((s) => `int ${s}(void) { return 9; }\n`).join(''));
    writeFileSync(join(dir, 'check.c'), DLOPEN_CHECK);
    const cc = (args) => {
      const r = spawnSync(t.env.CC, args, { cwd: dir, encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`${t.triple}: building the dlopen check failed: ${r.stderr.trim()}`);
    };
    cc(['-shared', '-fPIC', '-o', 'libnodestub.so', 'stubs.c']);
    cc(['-o', 'check', 'check.c', '-L.', '-Wl,--no-as-needed', '-lnodestub', '-Wl,-rpath,$ORIGIN', '-ldl']);
    const r = spawnSync(q.cmd, ['-L', q.sysroot, join(dir, 'check'), file], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${t.triple}: the addon does not load under ${q.cmd}: ${r.stderr.trim() || `exit ${r.status}`}`);
    return `loaded under ${q.cmd}`;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function nodeGyp() {
  try {
    return require.resolve('node-gyp/bin/node-gyp.js');
  } catch {
    const bundled = join(
      dirname(dirname(process.execPath)),
      'lib',
      'node_modules',
      'npm',
      'node_modules',
      'node-gyp',
      'bin',
      'node-gyp.js',
    );
    return existsSync(bundled) ? bundled : null;
  }
}

function verify(t, outputs) {
  for (const o of outputs) {
    const m = elfMachine(o);
    if (m !== EM[t.arch]) throw new Error(`${t.triple}: ${o} is ELF machine ${m}, expected ${EM[t.arch]}`);
  }
  if (!t.host) return outputs.map((o) => checkUnderQemu(t, o)).join(', ');
  // The host's own build must load in this Node and answer through Node-API.
  const check = spawnSync(
    process.execPath,
    ['-e', `const b = require(${JSON.stringify(outputs[0])}); if (typeof b.deleteModuleSync !== 'function') process.exit(3)`],
    { encoding: 'utf8' },
  );
  if (check.status !== 0) throw new Error(`${t.triple}: the prebuilt addon does not load here: ${check.stderr.trim()}`);
  return 'loaded in this Node';
}

function build(t) {
  const outDir = join(root, 'prebuilds', t.triple);
  const outputs = t.addons.map((a) => join(outDir, `${a}.node`));
  if (upToDate(outputs)) return `${t.triple}: up to date (${verify(t, outputs)})`;
  const compiler = t.env.CXX ?? 'g++';
  if (!which(compiler)) {
    if (requireAll) throw new Error(`${t.triple}: ${compiler} is not installed (scripts/setup.sh installs it)`);
    return `${t.triple}: skipped (${compiler} is not installed)`;
  }
  const gyp = nodeGyp();
  if (!gyp) throw new Error('node-gyp was not found');
  const nodedir = dirname(dirname(process.execPath));
  const stage = mkdtempSync(join(tmpdir(), `kernmod-prebuild-${t.triple}-`));
  try {
    for (const f of ['binding.gyp', 'native', 'scripts/has-lzma.mjs']) cpSync(join(root, f), join(stage, f), { recursive: true });
    symlinkSync(join(root, 'node_modules'), join(stage, 'node_modules'));
    const env = { ...process.env, ...t.env };
    const steps = [
      ['configure', `--nodedir=${nodedir}`, '--release', `--arch=${t.arch}`, ...(t.gypDefines ? ['--', ...t.gypDefines] : [])],
      ['build', '--release'],
    ];
    for (const args of steps) {
      const r = spawnSync(process.execPath, [gyp, ...args], { cwd: stage, env, encoding: 'utf8' });
      if (r.status !== 0)
        throw new Error(`${t.triple}: node-gyp ${args[0]} failed:\n${(r.stderr || r.stdout).trim().split('\n').slice(-15).join('\n')}`);
    }
    mkdirSync(outDir, { recursive: true });
    // Renamed into place, so a pack or a test running meanwhile (the pack tests build the set too) never
    // reads a half-copied file.
    for (const a of t.addons) {
      const out = join(outDir, `${a}.node`);
      copyFileSync(join(stage, 'build', 'Release', `${a}.node`), `${out}.${process.pid}.tmp`);
      renameSync(`${out}.${process.pid}.tmp`, out);
    }
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
  return `${t.triple}: built ${t.addons.map((a) => `${a}.node`).join(', ')} (${verify(t, outputs)})`;
}

if (process.platform !== 'linux' || process.arch !== 'x64') {
  console.error(`prebuild: the prebuilt set is made on linux-x64 (this is ${process.platform}-${process.arch}); nothing built`);
  process.exit(requireAll ? 1 : 0);
}
try {
  for (const t of TARGETS) console.log(`prebuild: ${build(t)}`);
} catch (e) {
  console.error(`prebuild: ${e.message}`);
  process.exit(1);
}
