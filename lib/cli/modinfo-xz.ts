// liblzma for `kernmod modinfo`, able to decode into a buffer the caller reuses (the addon's
// decodeInto): a whole-tree run decodes thousands of .ko.xz and keeps none of them, and a fresh output
// buffer per module costs an allocation, its page faults and the garbage collector's attention. Takes
// what lib/backend/native-xz decided (liblzma built and not disabled by KERNMOD_XZ=js) and adds only
// that capability.
import { createRequire } from 'node:module';
import { installNativeXz } from '../backend/native-xz.js';
import { loadXz, setXzDecoder } from '../compress/index.js';

interface XzBinding {
  decodeInto?: (input: Uint8Array, output: Uint8Array) => number;
  readFile?: (path: string, buffer: Uint8Array) => number;
  NOT_REGULAR?: number;
}

/**
 * The addon's whole-file reader (native/xz.cc, readFile): open + fstat + read + close in one call.
 * Returns the bytes read when the file is regular and fits `buffer`; its size when it does not fit;
 * -errno; or NOT_REGULAR.
 */
export interface FileReader {
  read(path: string, buffer: Uint8Array): number;
  readonly NOT_REGULAR: number;
}

let reader: FileReader | undefined;

/** The reader installModinfoXz found (undefined without the liblzma addon: read with node:fs then). */
export function modinfoFileReader(): FileReader | undefined {
  return reader;
}

export function installModinfoXz(): void {
  if (installNativeXz() === null) return; // @napi-rs/lzma: it has no decode-into
  let binding: XzBinding;
  try {
    binding = createRequire(import.meta.url)('bindings')('kernmod_xz') as XzBinding;
  } catch {
    return;
  }
  const { readFile, NOT_REGULAR } = binding;
  if (readFile && NOT_REGULAR !== undefined) reader = { read: (path, buffer) => readFile(path, buffer), NOT_REGULAR };
  const decoder = loadXz();
  if (decoder.decompressInto) return;
  const decodeInto = binding.decodeInto;
  // Without it (an addon built before decodeInto), decode as native-xz does.
  if (decodeInto) setXzDecoder({ ...decoder, decompressInto: (input, output) => decodeInto(input, output) });
}
