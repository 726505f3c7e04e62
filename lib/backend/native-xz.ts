// The kernmod_xz addon (native/xz.cc, built when liblzma's headers were there at install time): hands
// lib/compress its liblzma decoder, which also decodes into a buffer the caller reuses, and gives the
// modinfo CLI its batch reader and decoder on the thread pool. lib/compress stays pure
// and never loads native code itself; without this addon it decodes xz with @napi-rs/lzma.
import { loadXz, setXzDecoder, type XzDecoder } from '../compress/decoders.js';
import { loadAddon } from './addon.js';

/** One file of a readDecodeBatch call. */
export interface BatchFile {
  /**
   * The decoded length when the file is a regular file that is exactly one .xz stream decoding without
   * error in the space left; else negative: INPUT_TOO_SMALL (fileSize is the file's size),
   * OUTPUT_TOO_SMALL (the image did not fit the space left), or anything else (-errno, not a regular
   * file, not plain xz), for which the caller takes its synchronous path, which reports each case exactly.
   */
  code: number;
  fileSize: number;
  /** The bytes read (empty when the file was not read). */
  input: Uint8Array;
  /** The decoded bytes (empty unless code >= 0). */
  image: Uint8Array;
}

/** The addon as native/xz.cc exports it (everything but `available` only when liblzma was built in). */
interface XzBinding {
  available: boolean;
  version: string;
  decode(input: Uint8Array, size: number): Promise<Uint8Array>;
  /** Decodes into `output`, whose length is the exact decoded size; returns that length. */
  decodeInto(input: Uint8Array, output: Uint8Array): number;
  /**
   * On a thread-pool thread, reads each file whole and decodes it as exactly one .xz stream, into areas
   * of the given sizes that the addon allocates and hands over when the call settles (the caller owns no
   * memory the pool thread writes to).
   */
  readDecodeBatch(paths: string[], inputBytes: number, outputBytes: number): Promise<BatchFile[]>;
  INPUT_TOO_SMALL: number;
  OUTPUT_TOO_SMALL: number;
  /**
   * Detaches the ArrayBuffer of a readDecodeBatch result (`input.buffer`, `image.buffer`) once the
   * caller is done with it: its area is reused by the next batches at once, not when collected.
   */
  releaseArea(area: ArrayBuffer): void;
}

/** What the modinfo CLI uses of the addon: its batch reader and decoder. */
export type PoolXzDecoder = Pick<XzBinding, 'readDecodeBatch' | 'releaseArea' | 'INPUT_TOO_SMALL' | 'OUTPUT_TOO_SMALL'>;

let loaded: XzBinding | null | undefined;

/** The addon when it was built with liblzma and not disabled by KERNMOD_XZ=js (comparisons); else null. */
function nativeXz(): XzBinding | null {
  if (loaded !== undefined) return loaded;
  loaded = null;
  if (process.env.KERNMOD_XZ === 'js') return loaded;
  try {
    const x = loadAddon<XzBinding>('kernmod_xz').binding;
    if (x.available) loaded = x;
  } catch {
    /* not built: keep the default decoder */
  }
  return loaded;
}

/** Installs the liblzma decoder; returns liblzma's version, or null when it is not available. */
export function installNativeXz(): string | null {
  const x = nativeXz();
  if (x === null) return null;
  const decoder: XzDecoder = {
    decompress: (input, size) => x.decode(input, size),
    decompressSync: (input, size) => {
      const out = Buffer.allocUnsafeSlow(size);
      x.decodeInto(input, out);
      return out;
    },
    decompressInto: (input, output) => x.decodeInto(input, output),
  };
  setXzDecoder(decoder);
  return x.version;
}

/**
 * Installs a decoder that loads the addon when the first .xz is decoded, so a command that decodes no
 * .xz never loads it (dlopen of the addon and liblzma is part of the start-up of any process that does);
 * without the addon, the default decoder decodes.
 */
export function installNativeXzOnFirstUse(): void {
  const decoder = (): XzDecoder => {
    if (installNativeXz() === null) setXzDecoder(undefined);
    return loadXz();
  };
  setXzDecoder({
    decompress: (input, size) => decoder().decompress(input, size),
    decompressSync: (input, size) => decoder().decompressSync(input, size),
    decompressInto: (input, output) => {
      const d = decoder();
      if (d.decompressInto) return d.decompressInto(input, output);
      const out = d.decompressSync(input, output.length);
      output.set(out);
      return out.length;
    },
  });
}

/** The addon's batch decoder on the thread pool, or undefined without it. */
export function poolXzDecoder(): PoolXzDecoder | undefined {
  return nativeXz() ?? undefined;
}
