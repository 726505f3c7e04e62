// The .modinfo of modules built into the kernel image, from `modules.builtin.modinfo` (Linux ≥ 5.2),
// which kbuild installs beside the loadable modules: the builtins' .modinfo strings, NUL-separated, each
// prefixed with its module's name: `zswap.description=Compressed cache for swap pages`.
// Lookups follow kmod's libkmod-builtin.c, which modinfo uses: a module's strings are the first
// contiguous run carrying its prefix, and a string without any `modname.` prefix makes the file invalid.
// (Which modules are built in, and their aliases, are lookups: lib/modprobe reads those indexes.)
import { invalidInput } from '../errors.js';
import { splitField, type ModinfoField } from './strings.js';
import { LINUX_ERRNO } from '../errno.js';

const utf8 = (b: Uint8Array, s: number, e: number) => Buffer.from(b.buffer, b.byteOffset + s, e - s).toString('utf8');

/**
 * The modinfo fields of builtin module `name` from `modules.builtin.modinfo` bytes, in file order, or
 * undefined when it has none. Throws ERR_KERNMOD_BAD_BUILTIN_MODINFO, as kmod fails with EINVAL, when a
 * string before the end of the module's run has no `modname.` prefix.
 */
export function builtinModinfo(bytes: Uint8Array, name: string): ModinfoField[] | undefined {
  const prefix = Buffer.from(`${name}.`, 'utf8');
  const out: ModinfoField[] = [];
  let i = 0;
  const n = bytes.length;
  while (i < n) {
    let e = bytes.indexOf(0, i);
    if (e === -1) e = n;
    // kmod reads each string with getdelim(): an empty one has no '.', which is an error.
    if (bytes.subarray(i, e).indexOf(0x2e) === -1) {
      throw invalidInput('ERR_KERNMOD_BAD_BUILTIN_MODINFO', `modules.builtin.modinfo: string at byte ${i} has no "module." prefix`, {
        errno: -LINUX_ERRNO.EINVAL,
      });
    }
    let match = e - i >= prefix.length;
    for (let k = 0; match && k < prefix.length; k++) if (bytes[i + k] !== prefix[k]) match = false;
    if (match) out.push(splitField(utf8(bytes, i + prefix.length, e)));
    else if (out.length > 0) break; // the module's run is over
    i = e + 1;
  }
  return out.length > 0 ? out : undefined;
}
