// Decompressing module files in user space: gzip, xz and zstd, chosen by magic bytes, with a hard cap on
// the output. The cap is checked before any decoder runs (xz states its size in chunk headers, zstd's is
// walked from its block and sequence headers; zlib enforces maxOutputLength while inflating), so a
// hostile or corrupt file ends in a typed error — ERR_KERNMOD_TOO_LARGE or ERR_KERNMOD_DECOMPRESS —
// never in an unbounded allocation, and every decoder's work is linear in its input plus its output.
import { constants as bufferConstants } from 'node:buffer';
import { invalidInput, KernmodError } from '../errors.js';
import { loadFzstd, loadXz, zlibModule, zlibZstd } from './decoders.js';
import { detectCompression, type CompressionFormat } from './detect.js';
import { xzUncompressedSize } from './xz-size.js';
import { zstdSizes } from './zstd-size.js';

export { setXzDecoder, type XzDecoder } from './decoders.js';
export { detectCompression, COMPRESSION_MAGIC_BYTES, COMPRESSION_MAGICS, type CompressionFormat } from './detect.js';

/** Default cap on decompressed output: far above any real module (the largest Debian .ko is ~20 MiB). */
export const DEFAULT_MAX_DECOMPRESSED_BYTES = 256 * 1024 * 1024;

export interface DecompressOptions {
  /** Refuse (ERR_KERNMOD_TOO_LARGE) to produce more than this many bytes. Default 256 MiB. */
  maxBytes?: number;
}

export interface DecompressSyncOptions extends DecompressOptions {
  /**
   * A buffer of at least `size` bytes to decode into, for callers that decode many modules one after
   * another and keep none (the modinfo CLI): the result is then a view of it, valid until it is reused.
   * Used where the decoder can write into a caller's buffer (xz with a decoder that has
   * decompressInto), else ignored.
   */
  into?: (size: number) => Uint8Array;
}

/** gunzip on the libuv thread pool. */
function gunzipAsync(bytes: Uint8Array, opts: { maxOutputLength: number }): Promise<Buffer> {
  return new Promise((resolve, reject) => zlibModule().gunzip(bytes, opts, (e, out) => (e ? reject(e) : resolve(out))));
}

/** The caller's maxBytes, checked (ERR_KERNMOD_INVALID_OPTION), or the default. */
export function maxBytesOf(opts: DecompressOptions | undefined): number {
  const max = opts?.maxBytes ?? DEFAULT_MAX_DECOMPRESSED_BYTES;
  if (!Number.isSafeInteger(max) || max < 1) {
    throw invalidInput('ERR_KERNMOD_INVALID_OPTION', `maxBytes must be a positive integer, got ${String(max)}`);
  }
  return Math.min(max, bufferConstants.MAX_LENGTH);
}

function tooLarge(format: CompressionFormat, size: number | string, max: number): KernmodError {
  return invalidInput('ERR_KERNMOD_TOO_LARGE', `${format} data decompresses to ${size} bytes, more than the limit of ${max} (maxBytes)`, {
    errno: -27, // EFBIG
  });
}

/** A decoder's failure, typed: zlib's output cap is the size limit, anything else corrupt data. */
function failed(format: CompressionFormat, e: unknown, max: number): KernmodError {
  if (e instanceof KernmodError) return e;
  const err = e as NodeJS.ErrnoException;
  if (err?.code === 'ERR_BUFFER_TOO_LARGE') return tooLarge(format, `more than ${max}`, max);
  return invalidInput('ERR_KERNMOD_DECOMPRESS', `corrupt ${format} data: ${err?.message ?? String(e)}`, { errno: -22, cause: e });
}

/**
 * The checks before any decoder runs: the input, its format, the cap, and the sizes its headers state
 * against the cap. `expected`: the exact output length when the format states it.
 */
function preflight(
  bytes: unknown,
  opts: DecompressOptions | undefined,
): { format: CompressionFormat; max: number; expected: number | undefined } {
  const max = maxBytesOf(opts);
  if (!(bytes instanceof Uint8Array)) {
    throw invalidInput('ERR_KERNMOD_INVALID_SOURCE', `decompress expects a Uint8Array, got ${bytes === null ? 'null' : typeof bytes}`);
  }
  const format = detectCompression(bytes);
  if (!format) throw invalidInput('ERR_KERNMOD_DECOMPRESS', 'not gzip, xz or zstd data (no known magic bytes)', { errno: -22 });
  return { format, max, expected: statedSize(format, bytes, max) };
}

/** The output size the headers state, checked against the cap. */
function statedSize(format: CompressionFormat, bytes: Uint8Array, max: number): number | undefined {
  if (format === 'xz') {
    const size = xzUncompressedSize(bytes);
    if (size > max) throw tooLarge(format, size, max);
    return size;
  }
  if (format === 'zstd') {
    const s = zstdSizes(bytes);
    if (s.declared !== undefined && s.declared > max) throw tooLarge(format, s.declared, max);
    if (s.bound > max) throw tooLarge(format, s.bound, max);
    if (s.largestAllocation > max) throw tooLarge(format, `up to ${s.largestAllocation}`, max);
    return s.bound;
  }
  return undefined; // gzip: zlib's maxOutputLength enforces the cap while inflating
}

function postflight(format: CompressionFormat, out: Uint8Array, expected: number | undefined, max: number): Uint8Array {
  if (out.length > max) throw tooLarge(format, out.length, max);
  if (expected !== undefined && out.length !== expected) {
    throw invalidInput(
      'ERR_KERNMOD_DECOMPRESS',
      `corrupt ${format} data: decoded ${out.length} bytes where its headers state ${expected}`,
      { errno: -22 },
    );
  }
  return out;
}

/** The function that decodes this format, loaded (and failing with its own error) before any decoding. */
function decoderSync(
  format: CompressionFormat,
  max: number,
  size: number | undefined,
  into?: (size: number) => Uint8Array,
): (b: Uint8Array) => Uint8Array {
  if (format === 'gzip') return (b) => zlibModule().gunzipSync(b, { maxOutputLength: max });
  if (format === 'xz') {
    const xz = loadXz();
    if (into && xz.decompressInto) {
      const decodeInto = xz.decompressInto.bind(xz);
      return (b) => {
        const out = into(size!).subarray(0, size!);
        return out.subarray(0, decodeInto(b, out));
      };
    }
    return (b) => xz.decompressSync(b, size!);
  }
  const native = zlibZstd();
  if (native) return (b) => native(b, max);
  const fzstd = loadFzstd();
  return (b) => fzstd.decompress(b);
}

function decoderAsync(format: CompressionFormat, max: number, size: number | undefined): (b: Uint8Array) => Promise<Uint8Array> {
  if (format === 'gzip') return (b) => gunzipAsync(b, { maxOutputLength: max });
  if (format === 'xz') {
    const xz = loadXz();
    return (b) => xz.decompress(b, size!);
  }
  const sync = decoderSync(format, max, size);
  return async (b) => sync(b);
}

/** Decompresses gzip, xz or zstd bytes (told by magic bytes). Blocks the calling thread. */
export function decompressSync(bytes: Uint8Array, opts?: DecompressSyncOptions): Uint8Array {
  const { format, max, expected } = preflight(bytes, opts);
  const decode = decoderSync(format, max, expected, opts?.into);
  try {
    return postflight(format, decode(bytes), expected, max);
  } catch (e) {
    throw failed(format, e, max); // postflight's errors pass through as they are
  }
}

/**
 * Decompresses gzip, xz or zstd bytes (told by magic bytes). gzip and xz decode on the libuv thread
 * pool; zstd on Node 20 decodes in JavaScript (fzstd) on the calling thread.
 * Bound on the main thread: zstd's walk refuses any block above 128 KiB and any total above maxBytes, so
 * fzstd copies at most maxBytes (256 MiB by default) once the walk has passed.
 */
export async function decompress(bytes: Uint8Array, opts?: DecompressOptions): Promise<Uint8Array> {
  const { format, max, expected } = preflight(bytes, opts);
  const decode = decoderAsync(format, max, expected);
  try {
    return postflight(format, await decode(bytes), expected, max);
  } catch (e) {
    throw failed(format, e, max); // postflight's errors pass through as they are
  }
}
