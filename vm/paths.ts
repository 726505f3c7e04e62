// Where the VM rig keeps its files. Everything here is derived from the location of the compiled
// module (dist/vm/*.js) rather than process.cwd(), so the rig behaves the same whichever directory
// a script or test runner is started from.
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

let cachedRoot: string | undefined;

/** Nearest directory containing package.json above this file (the kernmod project or installed package). */
export function projectRoot(): string {
  if (cachedRoot !== undefined) return cachedRoot;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return (cachedRoot = dir);
    const up = dirname(dir);
    if (up === dir) throw new Error(`kernmod vm: no package.json found above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
}

/**
 * Where the rig caches initramfs images and KVM probe verdicts. The rule: KERNMOD_VM_CACHE when set;
 * else, in a git checkout of kernmod (a `.git` beside package.json: the kernel suite and CI), its
 * git-ignored `.cache/vm`; else (an installed package) the user's cache directory,
 * `$XDG_CACHE_HOME/kernmod/vm` (an absolute XDG_CACHE_HOME only, as the XDG spec says) or
 * `~/.cache/kernmod/vm` — never inside node_modules.
 */
export function vmCacheDirFor(root: string, env: NodeJS.ProcessEnv, home: string): string {
  const override = env['KERNMOD_VM_CACHE'];
  if (override) return resolve(override);
  if (existsSync(join(root, '.git'))) return join(root, '.cache', 'vm');
  const xdg = env['XDG_CACHE_HOME'];
  return join(xdg && isAbsolute(xdg) ? xdg : join(home, '.cache'), 'kernmod', 'vm');
}

export function vmCacheDir(): string {
  return vmCacheDirFor(projectRoot(), process.env, homedir());
}

/** Files that are copied into the guest (the /init script); shipped with the package ("files": vm/guest). */
export function guestDir(): string {
  return join(projectRoot(), 'vm', 'guest');
}
