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
import { closeSync, existsSync, mkdirSync, openSync, readSync, rmSync, writeFileSync } from 'node:fs';
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

/**
 * prebuilds/<platform>-<arch>[-<libc>]: the same rule as prebuildTriple() in lib/backend/addon.ts (this
 * script runs before dist/ exists in a checkout). The libc is the one this Node runs on: musl when the
 * dynamic loader its executable names (ELF PT_INTERP) is /lib/ld-musl-*, whatever else /lib holds.
 */
function prebuildTriple() {
  let libc;
  if (process.platform === 'linux') libc = /\/ld-musl-[^/]*$/.test(elfInterpreter(process.execPath) ?? '') ? 'musl' : 'glibc';
  return [process.platform, process.arch, libc].filter(Boolean).join('-');
}

/** The PT_INTERP path of an ELF executable, as elfInterpreter() in lib/backend/addon.ts reads it. */
function elfInterpreter(path) {
  let fd;
  try {
    fd = openSync(path, 'r');
  } catch {
    return undefined;
  }
  try {
    const read = (length, position) => {
      const b = Buffer.alloc(length);
      return b.subarray(0, readSync(fd, b, 0, length, position));
    };
    const h = read(64, 0);
    if (h.length < 52 || h.readUInt32BE(0) !== 0x7f454c46) return undefined;
    const is64 = h[4] === 2;
    const le = h[5] === 1;
    const u16 = (b, o) => (le ? b.readUInt16LE(o) : b.readUInt16BE(o));
    const u32 = (b, o) => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
    const word = (b, o) => (is64 ? Number(le ? b.readBigUInt64LE(o) : b.readBigUInt64BE(o)) : u32(b, o));
    const [phoff, phentsize, phnum] = is64 ? [word(h, 32), u16(h, 54), u16(h, 56)] : [word(h, 28), u16(h, 42), u16(h, 44)];
    const ph = read(phentsize * phnum, phoff);
    for (let o = 0; o + phentsize <= ph.length; o += phentsize) {
      if (u32(ph, o) !== 3 /* PT_INTERP */) continue;
      const [offset, size] = is64 ? [word(ph, o + 8), word(ph, o + 32)] : [word(ph, o + 4), word(ph, o + 16)];
      return read(Math.min(size, 4096), offset).toString('latin1').replace(/\0.*$/s, '');
    }
    return undefined;
  } finally {
    closeSync(fd);
  }
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
        `kernmod: falling back to the ffi backend at run time; once a C++ toolchain is installed, ` +
        `run \`npm rebuild kernmod --build-from-source\`.`,
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
    const tail = tolerant
      ? String(r.stderr ?? '')
          .trim()
          .split('\n')
          .slice(-3)
          .join(' | ')
      : '';
    fail(`node-gyp ${step} exited with ${r.status ?? r.signal}${tail ? `: ${tail}` : ''}`);
  }
}
rmSync(INSTALL_ERROR, { force: true });
