// `kernmod modinfo` over module files: read them (and decode the .ko.xz) on the libuv thread pool, a few
// batches ahead of the main thread, which parses and prints each one in argument order. The pool's
// threads open the files side by side, which is most of the time of a plain .ko tree on a slow file
// system (9p: round trips to the host per open), and decode the .xz, which is most of a compressed one's.
//
// Only the plain case goes this way: a regular file read whole, and for .xz a single stream decoding
// without error to the size its headers state (else its bytes, decoded by the runner as it would decode
// them). For anything else the runner's synchronous path reads the argument again and reports exactly
// what it would have (the pool's result is only ever a shortcut).
import type { BatchFile, PoolXzDecoder } from '../../backend/native-xz.js';
import { DEFAULT_MAX_DECOMPRESSED_BYTES } from '../../compress/index.js';
import { xzUncompressedSize } from '../../compress/xz-size.js';
import { MODULE_EXTENSIONS } from '../../names.js';

/** What the pool read of a module file: its decoded .xz image, or its bytes as read (the whole file). */
export type Prefetched = { kind: 'xz-image'; image: Uint8Array } | { kind: 'bytes'; bytes: Uint8Array };

/** Files per batch: one hop to the pool and back per batch instead of per module. */
const BATCH_FILES = 16;
/** A batch's areas: 16 of Debian's .ko files are mostly under 8 MiB, as are 16 .ko.xz decoded. */
const INPUT_BYTES = 8 << 20;
const OUTPUT_BYTES = 8 << 20;

interface Batch {
  indices: number[];
  /** Position in `indices` of the next file to take. */
  next: number;
  /** Per file: what was read, or undefined for the synchronous path; files that did not fit come alone. */
  done: Promise<Array<Promise<Prefetched | undefined> | Prefetched | undefined>>;
  /** The areas the batch's pool calls handed over, given back once every file of the batch is printed. */
  areas: Set<ArrayBuffer>;
}

export class ModulePrefetcher {
  /** Submitted batches, in argument order. */
  private readonly batches: Batch[] = [];
  /** Batches whose files are all taken: their areas go back at the next take, when the last is printed. */
  private readonly taken: Batch[] = [];
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
   * What the pool read of args[index] when it read the file whole (and decoded it, for a plain .xz);
   * undefined otherwise (the caller reads it its own way). Must be asked for every index in increasing
   * order, and what it returns is valid only until the next call: the areas behind it are reused then.
   */
  async take(index: number): Promise<Prefetched | undefined> {
    for (const b of this.taken.splice(0)) for (const area of b.areas) this.decoder.releaseArea(area);
    const batch = this.batches[0];
    if (batch === undefined || batch.indices[batch.next] !== index) return undefined;
    const k = batch.next++;
    if (batch.next === batch.indices.length) {
      this.taken.push(this.batches.shift()!);
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
        if (isModuleFile(this.args[i]!)) indices.push(i);
      }
      if (indices.length === 0) return;
      const paths = indices.map((i) => this.args[i]!);
      // Only .xz images are decoded into the output area: a batch without one needs none.
      const sizes = { inputBytes: INPUT_BYTES, outputBytes: paths.some((p) => p.endsWith('.xz')) ? OUTPUT_BYTES : 0 };
      const batch: Batch = { indices, next: 0, done: Promise.resolve([]), areas: new Set() };
      batch.done = this.read(batch, paths, sizes).then((files) =>
        files.map((f, k) => this.image(f) ?? this.alone(batch, paths[k]!, f, sizes)),
      );
      this.batches.push(batch);
    }
  }

  /** One pool call for `batch`, whose areas it records. */
  private async read(batch: Batch, paths: string[], sizes: BufferSizes): Promise<BatchFile[]> {
    const files = await this.decoder.readDecodeBatch(paths, sizes.inputBytes, sizes.outputBytes);
    for (const f of files) batch.areas.add(f.input.buffer as ArrayBuffer).add(f.image.buffer as ArrayBuffer);
    return files;
  }

  /**
   * The image, when it is one the synchronous path would accept as it is: it checks the size the
   * headers state and refuses images over the cap, so a disagreement of any kind goes there.
   */
  private image(f: BatchFile): Prefetched | undefined {
    if (f.code >= 0 && f.image.length <= this.maxBytes && statedSize(f.input) === f.image.length)
      return { kind: 'xz-image', image: f.image };
    if (f.code === this.decoder.INPUT_TOO_SMALL || f.code === this.decoder.OUTPUT_TOO_SMALL) return undefined;
    return f.fileSize > 0 && f.input.length === f.fileSize ? { kind: 'bytes', bytes: f.input } : undefined;
  }

  /**
   * A file that did not fit the space left in its batch gets a pool call of its own, with areas of its
   * size, started as soon as its batch is back (usually well before the main thread reaches it), so
   * that the largest modules are decoded on the pool too; undefined when it is not that case.
   */
  private alone(batch: Batch, path: string, f: BatchFile, sizes: BufferSizes): Promise<Prefetched | undefined> | undefined {
    const fit = this.sizesToFit(f, sizes);
    return fit && this.decodeAlone(batch, path, fit);
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
  private async decodeAlone(batch: Batch, path: string, sizes: BufferSizes): Promise<Prefetched | undefined> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const [f] = await this.read(batch, [path], sizes);
      const got = this.image(f!);
      if (got) return got;
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

function isModuleFile(arg: string): boolean {
  return MODULE_EXTENSIONS.some((ext) => arg.endsWith(ext));
}

function statedSize(xz: Uint8Array): number | undefined {
  try {
    return xzUncompressedSize(xz);
  } catch {
    return undefined;
  }
}
