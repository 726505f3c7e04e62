// Hands lib/compress the liblzma decoder from the kernmod_xz addon when it was built (liblzma's headers
// present at install time). lib/compress stays pure and never loads native code itself; without this
// addon it decodes xz with @napi-rs/lzma.
import { setXzDecoder, type XzDecoder } from '../compress/index.js';
import { loadAddon } from './addon.js';

interface XzBinding {
  available: boolean;
  version?: string;
  decode?(input: Uint8Array, size: number): Promise<Uint8Array>;
  decodeSync?(input: Uint8Array, size: number): Uint8Array;
}

let loaded: { version: string; decoder: XzDecoder } | null | undefined;

function load(): { version: string; decoder: XzDecoder } | null {
  if (loaded !== undefined) return loaded;
  loaded = null;
  try {
    const x = loadAddon<XzBinding>('kernmod_xz').binding;
    if (x.available && x.decode && x.decodeSync) {
      const { decode, decodeSync } = x;
      loaded = { version: x.version ?? 'liblzma', decoder: { decompress: (input, size) => decode(input, size), decompressSync: (input, size) => decodeSync(input, size) } };
    }
  } catch {
    /* not built: keep the default decoder */
  }
  return loaded;
}

/** Installs the liblzma decoder; returns liblzma's version, or null when it is not available. */
export function installNativeXz(): string | null {
  if (process.env.KERNMOD_XZ === 'js') return null; // force the fallback (comparisons)
  const native = load();
  if (native) setXzDecoder(native.decoder);
  return native?.version ?? null;
}
