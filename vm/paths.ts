// Where the VM rig keeps its files. Everything here is derived from the location of the compiled
// module (dist/vm/*.js) rather than process.cwd(), so the rig behaves the same whichever directory
// a script or test runner is started from.
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
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

/** Cache for initramfs images and the KVM probe verdicts; git-ignored. KERNMOD_VM_CACHE overrides it. */
export function vmCacheDir(): string {
  const override = process.env['KERNMOD_VM_CACHE'];
  return override ? resolve(override) : join(projectRoot(), '.cache', 'vm');
}

/** Files that are copied into the guest (the /init script); shipped with the package ("files": vm/guest). */
export function guestDir(): string {
  return join(projectRoot(), 'vm', 'guest');
}
