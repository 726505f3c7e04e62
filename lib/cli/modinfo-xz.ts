// liblzma for `kernmod modinfo`, able to decode into a buffer the caller reuses (the addon's
// decodeInto): a whole-tree run decodes thousands of .ko.xz and keeps none of them, and a fresh output
// buffer per module costs an allocation, its page faults and the garbage collector's attention. Takes
// what lib/backend/native-xz decided (liblzma built and not disabled by KERNMOD_XZ=js) and adds only
// that capability.
import { createRequire } from 'node:module';
import { installNativeXz } from '../backend/native-xz.js';
import { loadXz, setXzDecoder } from '../compress/index.js';

export function installModinfoXz(): void {
  if (installNativeXz() === null) return; // @napi-rs/lzma: it has no decode-into
  const decoder = loadXz();
  if (decoder.decompressInto) return;
  try {
    const binding = createRequire(import.meta.url)('bindings')('kernmod_xz') as { decodeInto?: (input: Uint8Array, output: Uint8Array) => number };
    const decodeInto = binding.decodeInto;
    if (decodeInto) setXzDecoder({ ...decoder, decompressInto: (input, output) => decodeInto(input, output) });
  } catch {
    /* an addon built before decodeInto: decode as native-xz does */
  }
}
