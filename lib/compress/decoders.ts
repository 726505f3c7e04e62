// The third-party decoders, each loaded on first use so that importing kernmod costs nothing for them
// (and a missing optional binary only fails the format that needs it).
//  - xz: @napi-rs/lzma 1.4.x (Rust, prebuilt per platform in npm packages, no install script; 1.5 needs
//    Node 22). Its async form runs on the libuv thread pool.
//  - zstd: node:zlib where it has zstd (Node ≥ 22.15), else fzstd (pure JS, no binary). fzstd checks no
//    block against its size limit: zstd-block.ts does that first, before any fzstd call.
//  - gzip: node:zlib, always.
import { KernmodError } from '../errors.js';

// node:zlib and node:module too are fetched when a format first needs them, so a command that reads a
// plain .ko never loads them (CLI start-up, bench/RESULTS.md).
/** node:zlib, loaded on first use. */
export function zlibModule(): typeof import('node:zlib') {
  return process.getBuiltinModule('node:zlib');
}

function require(pkg: string): unknown {
  return process.getBuiltinModule('node:module').createRequire(import.meta.url)(pkg);
}

/** An xz decoder. `size` is the exact output length, already checked against the caller's cap. */
export interface XzDecoder {
  decompressSync(input: Uint8Array, size: number): Uint8Array;
  decompress(input: Uint8Array, size: number): Promise<Uint8Array>;
  /**
   * Optional: decodes into `output`, whose length is the exact output length; returns that length.
   * Lets a caller that decodes many modules and keeps none reuse one buffer (decompressSync's `into`).
   */
  decompressInto?(input: Uint8Array, output: Uint8Array): number;
}

/** A decoder package that is not installed (or whose binary does not load) is its own error, not "corrupt data". */
function requireDecoder<T>(pkg: string, format: string): T {
  try {
    return require(pkg) as T;
  } catch (e) {
    throw new KernmodError({
      code: 'ERR_KERNMOD_DECOMPRESSOR_MISSING',
      phase: 'validate',
      message: `cannot decompress ${format}: the decoder package ${pkg} did not load (${(e as Error).message.split('\n')[0]})`,
      hint: `install it (npm install ${pkg}), or use an uncompressed module`,
      cause: e,
    });
  }
}

let xzDecoder: XzDecoder | undefined;
let xzOverride: XzDecoder | undefined;

/**
 * Replaces the xz decoder (undefined restores the default). For a faster one than @napi-rs/lzma —
 * liblzma through a native binding decodes Debian's .ko.xz in about 0.7x the time — installed by code
 * that may load native bindings (lib/compress itself never does).
 */
export function setXzDecoder(decoder: XzDecoder | undefined): void {
  xzOverride = decoder;
}

export function loadXz(): XzDecoder {
  if (xzOverride) return xzOverride;
  if (!xzDecoder) {
    // Its second parameter is an AbortSignal, so the size must not reach it.
    const { xz } = requireDecoder<{ xz: { decompressSync(b: Uint8Array): Uint8Array; decompress(b: Uint8Array): Promise<Uint8Array> } }>(
      '@napi-rs/lzma',
      'xz',
    );
    xzDecoder = { decompressSync: (b) => xz.decompressSync(b), decompress: (b) => xz.decompress(b) };
  }
  return xzDecoder;
}

export interface FzstdModule {
  decompress(dat: Uint8Array, buf?: Uint8Array): Uint8Array;
}

let fzstd: FzstdModule | undefined;

export function loadFzstd(): FzstdModule {
  fzstd ??= requireDecoder<FzstdModule>('fzstd', 'zstd');
  return fzstd;
}

type ZlibZstd = {
  zstdDecompressSync?: (buf: Uint8Array, opts?: { maxOutputLength?: number }) => Buffer;
};

/** node:zlib's zstd decoder when this Node has one (22.15+), else undefined. */
export function zlibZstd(): ((buf: Uint8Array, maxOutputLength: number) => Buffer) | undefined {
  const z = zlibModule() as unknown as ZlibZstd;
  const fn = z.zstdDecompressSync;
  return typeof fn === 'function' ? (buf, maxOutputLength) => fn(buf, { maxOutputLength }) : undefined;
}
