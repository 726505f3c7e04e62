// The one loader for kernmod's native addons (kernmod.node, kernmod_xz.node).
//
// The rule: an addon built here (build/Release, found with `bindings`) wins, then the prebuilt one shipped
// for this platform (prebuilds/<platform>-<arch>[-<libc>]/), as node-gyp-build and sharp order them. In
// an installed package build/ exists only when the install found no fitting prebuilt or the user asked
// for a build (--build-from-source, npm run build:native), so a local build is always the one wanted;
// in a git checkout it is the build of the code in front of you, which a stale prebuilds/ must not
// shadow. A build here that does not load falls through to the prebuilt. When both fail, the error
// names every place tried and why. `kernmod doctor` says which one is active and this reason.
// KERNMOD_NATIVE_DIR=DIR loads from DIR alone (the sanitizer build, scripts/test-sanitizers.mjs).
import { closeSync, existsSync, openSync, readFileSync, readSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export type AddonSource = 'built here' | 'prebuilt' | 'KERNMOD_NATIVE_DIR';

export interface LoadedAddon<T> {
  binding: T;
  source: AddonSource;
  path: string;
}

// Made on first load: node:module brings the ES module loader's code to each start-up that imports this file.
let requireHere: NodeJS.Require | undefined;
const require = (id: string): unknown => (requireHere ??= process.getBuiltinModule('node:module').createRequire(import.meta.url))(id);

/** The package root: the nearest directory above this file with a package.json (lib/ or dist/lib/). */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error(`no package.json above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
  return dir;
}

/**
 * 'glibc' or 'musl' on Linux, undefined elsewhere: the C library this Node itself runs on, told by the
 * dynamic loader its executable names (ELF PT_INTERP: /lib/ld-musl-* is musl). What is installed in
 * /lib does not decide: a glibc host may have musl's loader too (Debian's musl package).
 */
export function linuxLibc(platform: string = process.platform, exe: string = process.execPath): 'glibc' | 'musl' | undefined {
  if (platform !== 'linux') return undefined;
  return /\/ld-musl-[^/]*$/.test(elfInterpreter(exe) ?? '') ? 'musl' : 'glibc';
}

/** The PT_INTERP path of an ELF executable (ELF32 or ELF64, either byte order); undefined if none. */
export function elfInterpreter(path: string): string | undefined {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return undefined;
  }
  try {
    const read = (length: number, position: number): Buffer => {
      const b = Buffer.alloc(length);
      return b.subarray(0, readSync(fd, b, 0, length, position));
    };
    const h = read(64, 0);
    if (h.length < 52 || h.readUInt32BE(0) !== 0x7f454c46) return undefined;
    const is64 = h[4] === 2;
    const le = h[5] === 1;
    const u16 = (b: Buffer, o: number) => (le ? b.readUInt16LE(o) : b.readUInt16BE(o));
    const u32 = (b: Buffer, o: number) => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
    const word = (b: Buffer, o: number) => (is64 ? Number(le ? b.readBigUInt64LE(o) : b.readBigUInt64BE(o)) : u32(b, o));
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

/** The prebuilds/ directory name for a platform: linux-x64-glibc, linux-arm64-musl, netbsd-x64. */
export function prebuildTriple(platform: string = process.platform, arch: string = process.arch, libc = linuxLibc(platform)): string {
  return [platform, arch, libc].filter(Boolean).join('-');
}

/** An error's first line (a load failure's message can run to a page). */
export function firstLine(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return msg.split('\n')[0] ?? msg;
}

/**
 * Loads addon `name` from a local build, else from prebuilds/; throws one Error listing each attempt.
 * `root` and `triple` are replaceable in tests; the triple is worked out only when a prebuilt is tried.
 */
export function loadAddon<T>(name: string, root: string = packageRoot(), triple?: string): LoadedAddon<T> {
  const key = `${root}\0${triple ?? ''}\0${name}`;
  const hit = loaded.get(key);
  if (hit) return hit as LoadedAddon<T>;
  const found = find<T>(name, root, triple);
  loaded.set(key, found);
  return found;
}

// A process loads an addon file once; every caller sees the same binding and where it came from.
const loaded = new Map<string, LoadedAddon<unknown>>();

function find<T>(name: string, root: string, tripleGiven: string | undefined): LoadedAddon<T> {
  const dir = process.env.KERNMOD_NATIVE_DIR;
  if (dir) {
    const path = join(dir, `${name}.node`);
    try {
      return { binding: require(path) as T, source: 'KERNMOD_NATIVE_DIR', path };
    } catch (e) {
      throw new Error(`${name}.node could not be loaded: KERNMOD_NATIVE_DIR=${dir}: ${firstLine(e)}`);
    }
  }
  const failures: string[] = [];
  try {
    const bindings = require('bindings') as (opts: { bindings: string; module_root: string; path: true }) => string;
    const path = bindings({ bindings: name, module_root: root, path: true });
    return { binding: require(path) as T, source: 'built here', path };
  } catch (e) {
    failures.push(`built here (build/Release): ${firstLine(e)}`);
  }
  const triple = tripleGiven ?? prebuildTriple();
  const path = join(root, 'prebuilds', triple, `${name}.node`);
  if (!existsSync(path)) failures.push(`prebuilt (prebuilds/${triple}): none shipped for this platform`);
  else {
    try {
      return { binding: require(path) as T, source: 'prebuilt', path };
    } catch (e) {
      failures.push(`prebuilt (prebuilds/${triple}): ${firstLine(e)}`);
    }
  }
  // Why the install did not build it (npm hides install output; scripts/build-native.mjs leaves it here).
  try {
    const why = readFileSync(join(root, 'build', 'kernmod-install-error.txt'), 'utf8').trim();
    if (why) failures.push(`the build at install time failed: ${why}`);
  } catch {
    /* no install-time failure recorded */
  }
  throw new Error(`${name}.node could not be loaded: ${failures.join('; ')}`);
}
