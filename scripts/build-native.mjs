#!/usr/bin/env node
// Builds the native addon with node-gyp against the headers of the Node that runs this script.
//
// Why not plain `node-gyp rebuild`: without --nodedir node-gyp downloads headers, which fails on
// machines with no route to the internet, and `rebuild` deletes a working build before it knows the new
// one will succeed. Here --nodedir comes from process.execPath, and we run configure + build.
//
// --tolerant (used by `npm install`): first, a prebuilt addon for this platform (prebuilds/, shipped in
// the package) that loads here means there is nothing to build. Else, or when asked with
// `--build-from-source` (`npm install --build-from-source` passes it as npm_config_build_from_source),
// build; when the build cannot run (no compiler, no python, no headers), print one warning and exit 0:
// kernmod then falls back to its ffi backend at run time, and `kernmod doctor` says why.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const tolerant = process.argv.includes('--tolerant');
const fromSource = process.argv.includes('--build-from-source') || process.env.npm_config_build_from_source === 'true';
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);

// npm hides an install script's output, so a failed install build also leaves its reason here, where the
// addon loader (lib/backend/addon.ts) reads it into its error, and so into `kernmod doctor`.
const INSTALL_ERROR = join(root, 'build', 'kernmod-install-error.txt');

/** prebuilds/<platform>-<arch>[-<libc>]: the same rule as prebuildTriple() in lib/backend/addon.ts. */
function prebuildTriple() {
  let libc;
  if (process.platform === 'linux') {
    try {
      libc = readdirSync('/lib').some((f) => f.startsWith('ld-musl-')) ? 'musl' : 'glibc';
    } catch {
      libc = 'glibc';
    }
  }
  return [process.platform, process.arch, libc].filter(Boolean).join('-');
}

/** The prebuilt kernmod.node for this platform, when one is shipped and this Node can load it. */
function usablePrebuilt() {
  const path = join(root, 'prebuilds', prebuildTriple(), 'kernmod.node');
  if (!existsSync(path)) return null;
  try {
    require(path);
    return path;
  } catch {
    return null; // e.g. an older glibc than the prebuilt needs: build here instead
  }
}

if (tolerant && !fromSource && usablePrebuilt()) {
  rmSync(INSTALL_ERROR, { force: true });
  process.exit(0);
}

function fail(reason) {
  if (tolerant) {
    mkdirSync(dirname(INSTALL_ERROR), { recursive: true });
    writeFileSync(INSTALL_ERROR, `${reason}\n`);
    console.warn(
      `kernmod: the native addon was not built (${reason}).\n` +
        `kernmod: falling back to the ffi backend at run time; once a C++ toolchain is installed, run \`npm rebuild kernmod --build-from-source\`.`,
    );
    process.exit(0);
  }
  console.error(`kernmod: cannot build the native addon: ${reason}`);
  process.exit(1);
}

function nodeDir() {
  // <prefix>/bin/node → <prefix>/include/node/node_api.h
  const prefix = dirname(dirname(process.execPath));
  if (existsSync(join(prefix, 'include', 'node', 'node_api.h'))) return prefix;
  if (process.env.npm_config_nodedir && existsSync(join(process.env.npm_config_nodedir, 'include', 'node', 'node_api.h'))) {
    return process.env.npm_config_nodedir;
  }
  return null;
}

function nodeGyp() {
  const candidates = [];
  try {
    candidates.push(require.resolve('node-gyp/bin/node-gyp.js'));
  } catch {
    /* not a dependency in this install */
  }
  if (process.env.npm_config_node_gyp) candidates.push(process.env.npm_config_node_gyp);
  const prefix = dirname(dirname(process.execPath));
  candidates.push(join(prefix, 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  return candidates.find((c) => existsSync(c)) ?? null;
}

const dir = nodeDir();
if (!dir) fail(`Node's headers are not installed next to ${process.execPath} (no include/node/node_api.h)`);
const gyp = nodeGyp();
if (!gyp) fail('node-gyp was not found (neither as a dependency nor bundled with npm)');

for (const step of ['configure', 'build']) {
  const r = spawnSync(process.execPath, [gyp, step, `--nodedir=${dir}`, '--release'], { cwd: root, stdio: tolerant ? 'pipe' : 'inherit' });
  if (r.status !== 0) {
    const tail = tolerant ? String(r.stderr ?? '').trim().split('\n').slice(-3).join(' | ') : '';
    fail(`node-gyp ${step} exited with ${r.status ?? r.signal}${tail ? `: ${tail}` : ''}`);
  }
}
rmSync(INSTALL_ERROR, { force: true });
