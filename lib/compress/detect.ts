// Which compression a module file uses, told by its magic bytes — never by its name: a `.ko.xz` may
// hold plain ELF, and a `.ko` may be compressed (kmod ≥ 28 and the kernel both go by magic too).

export type CompressionFormat = 'gzip' | 'xz' | 'zstd';

const ZSTD_MAGIC = [0x28, 0xb5, 0x2f, 0xfd] as const; // little-endian 0xFD2FB528
const XZ_MAGIC = [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00] as const; // "\xFD7zXZ\0"
const GZIP_MAGIC = [0x1f, 0x8b] as const;

/**
 * Every format's magic: the head guard of the load policy's finit_module by path (backend/types.ts).
 * Internal to the package and never written: the native backend encodes it once (backend/native.ts).
 */
export const COMPRESSION_MAGICS: readonly Uint8Array[] = Object.freeze([ZSTD_MAGIC, XZ_MAGIC, GZIP_MAGIC].map((m) => Uint8Array.from(m)));

/** The number of leading bytes detectCompression needs to decide. */
export const COMPRESSION_MAGIC_BYTES = XZ_MAGIC.length;

function startsWith(bytes: Uint8Array, magic: readonly number[]): boolean {
  if (bytes.length < magic.length) return false;
  for (let i = 0; i < magic.length; i++) if (bytes[i] !== magic[i]) return false;
  return true;
}

/** 'gzip' | 'xz' | 'zstd' by magic bytes, or null (plain ELF, or anything else). */
export function detectCompression(bytes: Uint8Array): CompressionFormat | null {
  if (startsWith(bytes, ZSTD_MAGIC)) return 'zstd';
  if (startsWith(bytes, XZ_MAGIC)) return 'xz';
  if (startsWith(bytes, GZIP_MAGIC)) return 'gzip';
  return null;
}
