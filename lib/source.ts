// A module file named by a caller — a path string or a file: URL — becomes the path the kernel and
// the C library see whole, or a typed error before any system call. Every API that takes such a
// source converts it here, so none of them can open `/tmp/evil` for `file:///tmp/evil%00/x.ko`.
import { fileURLToPath } from 'node:url';
import { invalidInput } from './errors.js';

const CODE = 'ERR_KERNMOD_INVALID_SOURCE';

/** The path of `source`; throws ERR_KERNMOD_INVALID_SOURCE for '', a NUL, or a URL that names no local file. */
export function sourcePath(source: string | URL): string {
  let path: string;
  if (source instanceof URL) {
    if (source.protocol !== 'file:') throw invalidInput(CODE, `only file: URLs name a module file, got ${source.href}`);
    try {
      path = fileURLToPath(source);
    } catch (cause) {
      // A remote host (file://host/...) or an encoded '/' (%2f): Node names the rule broken.
      throw invalidInput(CODE, `${source.href} names no local file: ${(cause as Error).message}`, { cause });
    }
  } else {
    path = source;
  }
  if (path.length === 0) throw invalidInput(CODE, 'the module path is empty');
  // A C string ends at the first NUL: the kernel would open another file than the one named.
  if (path.includes('\0')) throw invalidInput(CODE, `the module path ${JSON.stringify(path)} contains NUL`, { path });
  return path;
}
