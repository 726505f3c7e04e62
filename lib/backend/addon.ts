// The one loader for kernmod's native addons (kernmod.node, kernmod_xz.node).
//
// Order, as node-gyp-build and sharp do it: an addon built here (build/Release, found with `bindings`)
// first, then the prebuilt one shipped for this platform (prebuilds/<platform>-<arch>[-<libc>]/). The
// install script builds only when no prebuilt loads or when asked (--build-from-source), so a local
// build exists only when it is the one wanted; in a git checkout it is the build of the code in front of
// you, never a stale prebuild. When both fail, the error names every place tried and why.
// KERNMOD_NATIVE_DIR=DIR loads from DIR alone (the sanitizer build, scripts/test-sanitizers.mjs).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export type AddonSource = 'built here' | 'prebuilt' | 'KERNMOD_NATIVE_DIR';

export interface LoadedAddon<T> {
  binding: T;
  source: AddonSource;
  path: string;
}

const require = createRequire(import.meta.url);

/** The package root: the nearest directory above this file with a package.json (lib/ or dist/lib/). */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error(`no package.json above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
  return dir;
}

/** 'glibc' or 'musl' on Linux (musl when its dynamic loader is installed), undefined elsewhere. */
export function linuxLibc(platform: string = process.platform, libDir = '/lib'): 'glibc' | 'musl' | undefined {
  if (platform !== 'linux') return undefined;
  try {
    return readdirSync(libDir).some((f) => f.startsWith('ld-musl-')) ? 'musl' : 'glibc';
  } catch {
    return 'glibc';
  }
}

/** The prebuilds/ directory name for a platform: linux-x64-glibc, linux-arm64-musl, netbsd-x64. */
export function prebuildTriple(platform: string = process.platform, arch: string = process.arch, libc = linuxLibc(platform)): string {
  return [platform, arch, libc].filter(Boolean).join('-');
}

function firstLine(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return msg.split('\n')[0] ?? msg;
}

/**
 * Loads addon `name` from a local build, else from prebuilds/; throws one Error listing each attempt.
 * `root` and `triple` are replaceable in tests.
 */
export function loadAddon<T>(name: string, root: string = packageRoot(), triple: string = prebuildTriple()): LoadedAddon<T> {
  const key = `${root}\0${triple}\0${name}`;
  const hit = loaded.get(key);
  if (hit) return hit as LoadedAddon<T>;
  const found = find<T>(name, root, triple);
  loaded.set(key, found);
  return found;
}

// A process loads an addon file once; every caller sees the same binding and where it came from.
const loaded = new Map<string, LoadedAddon<unknown>>();

function find<T>(name: string, root: string, triple: string): LoadedAddon<T> {
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
