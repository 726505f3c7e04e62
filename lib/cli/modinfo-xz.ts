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
  readDecodeBatch?: (paths: string[], input: Uint8Array, output: Uint8Array, results: Float64Array) => Promise<void>;
  INPUT_TOO_SMALL?: number;
  OUTPUT_TOO_SMALL?: number;
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

/**
 * The addon's readDecodeBatch (native/xz.cc): on a thread-pool thread, read each file whole and decode
 * it as exactly one .xz stream, inputs and images one after another in `input` and `output`. Fills
 * results[4i..4i+3] = code, input offset, input length, output offset for paths[i]; code is the decoded
 * length, or negative: INPUT_TOO_SMALL (input length: the file's size), OUTPUT_TOO_SMALL (did not fit
 * the space left), or anything else (-errno, not a regular file, not plain xz), for which the caller
 * takes its synchronous path, which reports each case exactly.
 */
export interface PoolXzDecoder {
  readDecodeBatch(paths: string[], input: Uint8Array, output: Uint8Array, results: Float64Array): Promise<void>;
  readonly INPUT_TOO_SMALL: number;
  readonly OUTPUT_TOO_SMALL: number;
}

let reader: FileReader | undefined;
let poolDecoder: PoolXzDecoder | undefined;

/** The pool decoder installModinfoXz found (undefined without a liblzma addon that has readDecodeBatch). */
export function modinfoPoolDecoder(): PoolXzDecoder | undefined {
  return poolDecoder;
}

/** The reader installModinfoXz found (undefined without the liblzma addon: read with node:fs then). */
export function modinfoFileReader(): FileReader | undefined {
  return reader;
}

let installed = false;

/** Looks for the addon's extras once per thread (later calls return at once). */
export function installModinfoXz(): void {
  if (installed) return;
  installed = true;
  if (installNativeXz() === null) return; // @napi-rs/lzma: it has no decode-into
  let binding: XzBinding;
  try {
    binding = createRequire(import.meta.url)('bindings')('kernmod_xz') as XzBinding;
  } catch {
    return;
  }
  const { readFile, NOT_REGULAR } = binding;
  if (readFile && NOT_REGULAR !== undefined) reader = { read: (path, buffer) => readFile(path, buffer), NOT_REGULAR };
  const { readDecodeBatch, INPUT_TOO_SMALL, OUTPUT_TOO_SMALL } = binding;
  if (readDecodeBatch && INPUT_TOO_SMALL !== undefined && OUTPUT_TOO_SMALL !== undefined) {
    poolDecoder = { readDecodeBatch: (paths, input, output, results) => readDecodeBatch(paths, input, output, results), INPUT_TOO_SMALL, OUTPUT_TOO_SMALL };
  }
  const decoder = loadXz();
  if (decoder.decompressInto) return;
  const decodeInto = binding.decodeInto;
  // Without it (an addon built before decodeInto), decode as native-xz does.
  if (decodeInto) setXzDecoder({ ...decoder, decompressInto: (input, output) => decodeInto(input, output) });
}
