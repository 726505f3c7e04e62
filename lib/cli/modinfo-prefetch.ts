// `kernmod modinfo` over many .ko.xz: read and decode them on the libuv thread pool, a few modules
// ahead of the main thread, which parses and prints each one in argument order. liblzma is most of the
// work for a compressed tree, so this puts every core on it while the process stays one Node instance:
// under emulation (the VM rig) a second instance (a worker thread) cost more than it gave back.
//
// Only the plain case goes this way: a regular file that is exactly one .xz stream decoding without
// error, whose size its headers state. For anything else the runner's synchronous path reads the
// argument again and reports exactly what it would have (the pool's result is only ever a shortcut).
import { DEFAULT_MAX_DECOMPRESSED_BYTES } from '../compress/index.js';
import { xzUncompressedSize } from '../compress/xz-size.js';
import type { PoolXzDecoder } from './modinfo-xz.js';

/** The arguments the prefetcher takes (kmod's module extension for xz). */
export const XZ_MODULE_EXTENSION = '.ko.xz';

/** Files per batch: one hop to the pool and back per batch instead of per module. */
export const BATCH_FILES = 16;
/** A slot's buffers: a batch of Debian .ko.xz is mostly well under 2 MiB, decoded under 8 MiB. */
const INPUT_BYTES = 2 << 20;
const OUTPUT_BYTES = 8 << 20;

interface Slot {
  input: Buffer;
  output: Buffer;
  results: Float64Array;
}

/** A file decoded: its compressed bytes (to check the size they state) and its image. */
interface Decoded {
  input: Uint8Array;
  image: Uint8Array;
}

interface Batch {
  indices: number[];
  /** Position in `indices` of the next file to take. */
  next: number;
  slot: Slot;
  /** Settles once the batch is decoded and the jobs of its large files (by position) are started. */
  done: Promise<Map<number, Promise<Decoded | undefined>>>;
}

/** A decoded module image, valid until release(), which must come before the next take(). */
export interface Prefetched {
  image: Uint8Array;
  release(): void;
}

export class XzPrefetcher {
  private readonly free: Slot[] = [];
  /** Submitted batches, in argument order. */
  private readonly batches: Batch[] = [];
  /** The next argument to consider. */
  private cursor = 0;

  /**
   * `depth`: batches in flight at once (each with its own buffers). `maxBytes`: the decompressed-size
   * cap of the synchronous path; an image over it is left to that path to refuse.
   */
  constructor(
    private readonly args: readonly string[],
    private readonly decoder: PoolXzDecoder,
    depth: number,
    private readonly batchFiles = BATCH_FILES,
    private readonly maxBytes = DEFAULT_MAX_DECOMPRESSED_BYTES,
  ) {
    for (let i = 0; i < Math.max(1, depth); i++) {
      this.free.push({ input: Buffer.allocUnsafe(INPUT_BYTES), output: Buffer.allocUnsafe(OUTPUT_BYTES), results: new Float64Array(4 * batchFiles) });
    }
    this.fill();
  }

  /**
   * The decoded image of args[index] if it was prefetched and decoded plainly; undefined otherwise (the
   * caller reads it its own way). Must be asked for every index in increasing order, each image
   * released before the next take().
   */
  async take(index: number): Promise<Prefetched | undefined> {
    const batch = this.batches[0];
    if (batch === undefined || batch.indices[batch.next] !== index) return undefined;
    const k = batch.next++;
    const release = (): void => {
      if (batch.next < batch.indices.length) return;
      this.batches.shift();
      this.free.push(batch.slot);
      this.fill();
    };
    let decoded: Decoded | undefined;
    try {
      const large = await batch.done;
      decoded = large.has(k) ? await large.get(k) : this.fromSlot(batch.slot, k);
    } catch {
      decoded = undefined; // the pool calls never reject; if they did, the synchronous path takes over
    }
    // The synchronous path checks the size the headers state, and refuses images over the cap: a
    // disagreement of any kind goes there, to be reported as it would be.
    if (decoded !== undefined && decoded.image.length <= this.maxBytes && statedSize(decoded.input) === decoded.image.length) {
      return { image: decoded.image, release };
    }
    release();
    return undefined;
  }

  /** File k of the batch in `slot`, if decoded there. */
  private fromSlot(slot: Slot, k: number): Decoded | undefined {
    const r = resultOf(slot.results, k);
    if (r.code < 0) return undefined;
    return { input: slot.input.subarray(r.inputOffset, r.inputOffset + r.inputLength), image: slot.output.subarray(r.outputOffset, r.outputOffset + r.code) };
  }

  private fill(): void {
    while (this.free.length > 0 && this.cursor < this.args.length) {
      const indices: number[] = [];
      while (indices.length < this.batchFiles && this.cursor < this.args.length) {
        const i = this.cursor++;
        if (this.args[i]!.endsWith(XZ_MODULE_EXTENSION)) indices.push(i);
      }
      if (indices.length === 0) return;
      const slot = this.free.pop()!;
      const paths = indices.map((i) => this.args[i]!);
      const done = this.decoder.readDecodeBatch(paths, slot.input, slot.output, slot.results).then(() => this.startLarge(paths, slot));
      this.batches.push({ indices, next: 0, slot, done });
    }
  }

  /**
   * Files that did not fit the space left in the slot get a pool job of their own, with buffers of
   * their size, started as soon as their batch is back (usually well before the main thread reaches
   * them), so that the largest modules are decoded on the pool too.
   */
  private startLarge(paths: string[], slot: Slot): Map<number, Promise<Decoded | undefined>> {
    const large = new Map<number, Promise<Decoded | undefined>>();
    for (let k = 0; k < paths.length; k++) {
      const r = resultOf(slot.results, k);
      const input = slot.input.subarray(r.inputOffset, r.inputOffset + r.inputLength);
      const fit = this.sizesToFit(r, input, { inputBytes: r.inputLength, outputBytes: OUTPUT_BYTES });
      if (fit) large.set(k, this.decodeAlone(paths[k]!, fit));
    }
    return large;
  }

  /**
   * `sizes` grown to hold a file that a pool call could not fit (`r`; `input`: its bytes as read, when
   * they fitted); undefined when it is not that case, or the file is over the cap: the synchronous path
   * takes it then.
   */
  private sizesToFit(r: PoolResult, input: Uint8Array, sizes: BufferSizes): BufferSizes | undefined {
    if (r.code === this.decoder.INPUT_TOO_SMALL) return r.inputLength <= this.maxBytes ? { ...sizes, inputBytes: r.inputLength } : undefined;
    if (r.code !== this.decoder.OUTPUT_TOO_SMALL) return undefined;
    const size = statedSize(input);
    return size !== undefined && size <= this.maxBytes ? { ...sizes, outputBytes: size } : undefined;
  }

  /** One file in a batch of its own; grows its buffers again if the file grew meanwhile (twice at most). */
  private async decodeAlone(path: string, sizes: BufferSizes): Promise<Decoded | undefined> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const input = Buffer.allocUnsafe(sizes.inputBytes);
      const output = Buffer.allocUnsafe(sizes.outputBytes);
      const results = new Float64Array(4);
      await this.decoder.readDecodeBatch([path], input, output, results);
      const r = resultOf(results, 0);
      if (r.code >= 0) return { input: input.subarray(0, r.inputLength), image: output.subarray(0, r.code) };
      const fit = this.sizesToFit(r, input.subarray(0, r.inputLength), sizes);
      if (!fit) return undefined;
      sizes = fit;
    }
    return undefined;
  }
}

interface BufferSizes {
  inputBytes: number;
  outputBytes: number;
}

/** What readDecodeBatch wrote for file k (see PoolXzDecoder). */
interface PoolResult {
  code: number;
  inputOffset: number;
  inputLength: number;
  outputOffset: number;
}

function resultOf(results: Float64Array, k: number): PoolResult {
  return { code: results[4 * k]!, inputOffset: results[4 * k + 1]!, inputLength: results[4 * k + 2]!, outputOffset: results[4 * k + 3]! };
}

function statedSize(xz: Uint8Array): number | undefined {
  try {
    return xzUncompressedSize(xz);
  } catch {
    return undefined;
  }
}
