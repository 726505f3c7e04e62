// `kernmod modinfo` over .ko.xz: read and decode them on the libuv thread pool, a few batches ahead of
// the main thread, which parses and prints each one in argument order.
//
// Only the plain case goes this way: a regular file that is exactly one .xz stream decoding without
// error, whose size its headers state. For anything else the runner's synchronous path reads the
// argument again and reports exactly what it would have (the pool's result is only ever a shortcut).
import type { BatchFile, PoolXzDecoder } from '../../backend/native-xz.js';
import { DEFAULT_MAX_DECOMPRESSED_BYTES } from '../../compress/index.js';
import { xzUncompressedSize } from '../../compress/xz-size.js';

/** The arguments the prefetcher takes (kmod's module extension for xz). */
const XZ_MODULE_EXTENSION = '.ko.xz';

/** Files per batch: one hop to the pool and back per batch instead of per module. */
const BATCH_FILES = 16;
/** A batch's areas: a batch of Debian .ko.xz is mostly well under 2 MiB, decoded under 8 MiB. */
const INPUT_BYTES = 2 << 20;
const OUTPUT_BYTES = 8 << 20;

interface Batch {
  indices: number[];
  /** Position in `indices` of the next file to take. */
  next: number;
  /** Per file: its image, or undefined for the synchronous path; files that did not fit come alone. */
  done: Promise<Array<Promise<Uint8Array | undefined> | Uint8Array | undefined>>;
}

export class XzPrefetcher {
  /** Submitted batches, in argument order. */
  private readonly batches: Batch[] = [];
  /** The next argument to consider. */
  private cursor = 0;

  /**
   * `depth`: batches in flight at once. `maxBytes`: the decompressed-size cap of the synchronous path;
   * an image over it is left to that path to refuse.
   */
  constructor(
    private readonly args: readonly string[],
    private readonly decoder: PoolXzDecoder,
    private readonly depth: number,
    private readonly batchFiles = BATCH_FILES,
    private readonly maxBytes = DEFAULT_MAX_DECOMPRESSED_BYTES,
  ) {
    this.fill();
  }

  /**
   * The decoded image of args[index] if it was prefetched and decoded plainly; undefined otherwise (the
   * caller reads it its own way). Must be asked for every index in increasing order.
   */
  async take(index: number): Promise<Uint8Array | undefined> {
    const batch = this.batches[0];
    if (batch === undefined || batch.indices[batch.next] !== index) return undefined;
    const k = batch.next++;
    if (batch.next === batch.indices.length) {
      this.batches.shift();
      this.fill();
    }
    try {
      return await (await batch.done)[k];
    } catch {
      return undefined; // the pool calls never reject; if they did, the synchronous path takes over
    }
  }

  private fill(): void {
    while (this.batches.length < Math.max(1, this.depth) && this.cursor < this.args.length) {
      const indices: number[] = [];
      while (indices.length < this.batchFiles && this.cursor < this.args.length) {
        const i = this.cursor++;
        if (this.args[i]!.endsWith(XZ_MODULE_EXTENSION)) indices.push(i);
      }
      if (indices.length === 0) return;
      const paths = indices.map((i) => this.args[i]!);
      const done = this.decoder
        .readDecodeBatch(paths, INPUT_BYTES, OUTPUT_BYTES)
        .then((files) =>
          files.map((f, k) => this.image(f) ?? this.alone(paths[k]!, f, { inputBytes: f.fileSize, outputBytes: OUTPUT_BYTES })),
        );
      this.batches.push({ indices, next: 0, done });
    }
  }

  /**
   * The image, when it is one the synchronous path would accept as it is: it checks the size the
   * headers state and refuses images over the cap, so a disagreement of any kind goes there.
   */
  private image(f: BatchFile): Uint8Array | undefined {
    if (f.code < 0 || f.image.length > this.maxBytes || statedSize(f.input) !== f.image.length) return undefined;
    return f.image;
  }

  /**
   * A file that did not fit the space left in its batch gets a pool call of its own, with areas of its
   * size, started as soon as its batch is back (usually well before the main thread reaches it), so
   * that the largest modules are decoded on the pool too; undefined when it is not that case.
   */
  private alone(path: string, f: BatchFile, sizes: BufferSizes): Promise<Uint8Array | undefined> | undefined {
    const fit = this.sizesToFit(f, sizes);
    return fit && this.decodeAlone(path, fit);
  }

  /**
   * `sizes` grown to hold a file that a pool call could not fit; undefined when it is not that case,
   * or the file is over the cap: the synchronous path takes it then.
   */
  private sizesToFit(f: BatchFile, sizes: BufferSizes): BufferSizes | undefined {
    if (f.code === this.decoder.INPUT_TOO_SMALL) return f.fileSize <= this.maxBytes ? { ...sizes, inputBytes: f.fileSize } : undefined;
    if (f.code !== this.decoder.OUTPUT_TOO_SMALL) return undefined;
    const size = statedSize(f.input);
    return size !== undefined && size <= this.maxBytes ? { ...sizes, outputBytes: size } : undefined;
  }

  /** One file in a batch of its own; grows its areas again if the file grew meanwhile (twice at most). */
  private async decodeAlone(path: string, sizes: BufferSizes): Promise<Uint8Array | undefined> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const [f] = await this.decoder.readDecodeBatch([path], sizes.inputBytes, sizes.outputBytes);
      if (f!.code >= 0) return this.image(f!);
      const fit = this.sizesToFit(f!, sizes);
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

function statedSize(xz: Uint8Array): number | undefined {
  try {
    return xzUncompressedSize(xz);
  } catch {
    return undefined;
  }
}
