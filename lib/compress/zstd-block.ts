// The exact output size of one zstd compressed block, found by decoding its headers and its sequence
// codes without producing any output (RFC 8878 §3.1.1.3): the literals section states how many literals
// it regenerates, and the sequences say how many of them each one copies and how long its match is. The
// rules libzstd applies and fzstd does not: the literal lengths may not use more literals than there
// are, the block may not exceed Block_Maximum_Size = min(window, 128 KiB), and the sequence bitstream
// must be consumed exactly. A block that breaks one is corrupt, and is refused after at most
// Block_Maximum_Size / 3 sequences (each produces a match of at least 3 bytes), so the walk's work is
// linear in the input and the decoder that runs after it copies at most Block_Maximum_Size per block.
import { invalidInput, type KernmodError } from '../errors.js';

/** One FSE decoding table: for each state, its symbol, the bits to read and the next state's base. */
interface FseTable {
  accuracy: number;
  symbol: Uint8Array;
  bits: Uint8Array;
  base: Uint16Array;
}

/** The tables a block may repeat from the one before it in the same frame (Repeat_Mode). */
export interface ZstdFrameTables {
  ll?: FseTable;
  of?: FseTable;
  ml?: FseTable;
}

/** zstd data that breaks a rule of the format, naming the byte where it does. */
export function corrupt(reason: string, offset: number): KernmodError {
  return invalidInput('ERR_KERNMOD_DECOMPRESS', `corrupt zstd data: ${reason} (at byte ${offset})`, { errno: -22 });
}

// Literal length and match length codes: extra bits, and the baselines they add to (RFC 8878 §3.1.1.3.2.1.1).
const LL_BITS = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 3, 3, 4, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16];
const ML_BITS = [
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 3, 3, 4, 4, 5, 7, 8, 9,
  10, 11, 12, 13, 14, 15, 16,
];
const baselines = (bits: number[], first: number) => {
  const out: number[] = [];
  for (const b of bits) out.push(first), (first += 2 ** b);
  return out;
};
const LL_BASE = baselines(LL_BITS, 0);
const ML_BASE = baselines(ML_BITS, 3);
const MAX_LL = 35;
const MAX_ML = 52;
const MAX_OF = 31;

/** Builds the decoding table of a normalized distribution (-1: a "less than 1" probability). */
function buildTable(counts: readonly number[], accuracy: number, at: number): FseTable {
  const size = 1 << accuracy;
  const symbol = new Uint8Array(size);
  const bits = new Uint8Array(size);
  const base = new Uint16Array(size);
  const next = new Uint16Array(counts.length);
  let high = size;
  counts.forEach((c, s) => {
    if (c === -1) {
      symbol[--high] = s;
      next[s] = 1;
    } else next[s] = c;
  });
  const step = (size >> 1) + (size >> 3) + 3;
  let pos = 0;
  counts.forEach((c, s) => {
    for (let i = 0; i < c; i++) {
      symbol[pos] = s;
      do pos = (pos + step) & (size - 1);
      while (pos >= high);
    }
  });
  if (pos !== 0) throw corrupt('FSE distribution does not fill its table', at);
  for (let i = 0; i < size; i++) {
    const n = next[symbol[i]!]!++;
    const nb = accuracy - (31 - Math.clz32(n));
    bits[i] = nb;
    base[i] = (n << nb) - size;
  }
  return { accuracy, symbol, bits, base };
}

function rleTable(code: number): FseTable {
  return { accuracy: 0, symbol: new Uint8Array([code]), bits: new Uint8Array(1), base: new Uint16Array(1) };
}

// The predefined distributions (RFC 8878 §3.1.1.3.2.2).
const PREDEFINED_LL = buildTable(
  [4, 3, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 3, 2, 1, 1, 1, 1, 1, -1, -1, -1, -1],
  6,
  0,
);
const PREDEFINED_ML = buildTable(
  [
    1, 4, 3, 2, 2, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, -1, -1, -1, -1, -1, -1, -1,
  ],
  6,
  0,
);
const PREDEFINED_OF = buildTable([1, 1, 1, 1, 1, 1, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, -1, -1, -1, -1, -1], 5, 0);

/** Reads an FSE table description (RFC 8878 §4.1.1) at `pos`; returns the table and where it ends. */
function readFseTable(b: Uint8Array, pos: number, end: number, maxAccuracy: number, maxSymbol: number): { table: FseTable; next: number } {
  let bit = pos * 8;
  const read = (n: number): number => {
    if (bit + n > end * 8) throw corrupt('FSE table description runs past the block', pos);
    let v = 0;
    for (let i = 0; i < n; i++, bit++) v |= ((b[bit >> 3]! >> (bit & 7)) & 1) << i;
    return v;
  };
  const peek = (n: number): number => {
    const at = bit;
    const v = read(Math.min(n, end * 8 - bit));
    bit = at;
    return v;
  };
  const accuracy = read(4) + 5;
  if (accuracy > maxAccuracy) throw corrupt(`FSE accuracy ${accuracy} above ${maxAccuracy}`, pos);
  const counts: number[] = [];
  let remaining = 1 << accuracy;
  while (remaining > 0) {
    if (counts.length > maxSymbol) throw corrupt('FSE distribution has too many symbols', pos);
    const nbits = 32 - Math.clz32(remaining + 1); // enough for 0 .. remaining + 1
    const max = (1 << nbits) - 1 - (remaining + 1);
    const low = peek(nbits - 1);
    let value: number;
    if (low < max) value = read(nbits - 1);
    else {
      value = read(nbits);
      if (value >= 1 << (nbits - 1)) value -= max;
    }
    const count = value - 1;
    remaining -= count === -1 ? 1 : count;
    if (remaining < 0) throw corrupt('FSE probabilities add up to more than the table', pos);
    counts.push(count);
    if (count === 0) {
      for (;;) {
        const repeat = read(2);
        for (let i = 0; i < repeat; i++) counts.push(0);
        if (repeat !== 3) break;
      }
    }
  }
  if (counts.length - 1 > maxSymbol) throw corrupt('FSE distribution has too many symbols', pos);
  return { table: buildTable(counts, accuracy, pos), next: (bit + 7) >> 3 };
}

/** The sequence bitstream, read backwards from its end marker. */
class BackwardBits {
  private pos: number;
  constructor(
    private readonly b: Uint8Array,
    private readonly start: number,
    end: number,
  ) {
    const last = b[end - 1]!;
    if (end <= start || last === 0) throw corrupt('sequence bitstream without its end marker', end - 1);
    this.pos = (end - start) * 8 - 8 + (31 - Math.clz32(last));
  }

  /** The next `n` (≤ 31) bits; reading past the stream's start is corruption. */
  read(n: number): number {
    if (n === 0) return 0;
    this.pos -= n;
    if (this.pos < 0) throw corrupt('sequence bitstream ends early', this.start);
    return n <= 24 ? this.at(this.pos, n) : this.at(this.pos, 16) + this.at(this.pos + 16, n - 16) * 65536;
  }

  private at(pos: number, n: number): number {
    const i = this.start + (pos >> 3);
    const b = this.b;
    const word = (b[i]! | ((b[i + 1] ?? 0) << 8) | ((b[i + 2] ?? 0) << 16) | ((b[i + 3] ?? 0) << 24)) >>> 0;
    return (word >>> (pos & 7)) & ((1 << n) - 1);
  }

  get done(): boolean {
    return this.pos === 0;
  }
}

/**
 * The number of bytes compressed block `b[start, end)` decodes to. Throws ERR_KERNMOD_DECOMPRESS when
 * it exceeds `blockMax` or is otherwise impossible (see the file comment). `tables` carries the
 * repeatable tables from block to block within one frame.
 */
export function zstdCompressedBlockSize(b: Uint8Array, start: number, end: number, blockMax: number, tables: ZstdFrameTables): number {
  let p = start;
  const need = (n: number) => {
    if (p + n > end) throw corrupt('block headers run past the block', p);
  };
  // Literals section header.
  need(1);
  const b0 = b[p]!;
  const type = b0 & 3;
  const format = (b0 >> 2) & 3;
  let literals: number;
  let stored: number;
  if (type < 2) {
    if ((format & 1) === 0) (literals = b0 >> 3), (p += 1);
    else if (format === 1) need(2), (literals = (b0 >> 4) + (b[p + 1]! << 4)), (p += 2);
    else need(3), (literals = (b0 >> 4) + (b[p + 1]! << 4) + (b[p + 2]! << 12)), (p += 3);
    stored = type === 0 ? literals : 1;
  } else if (format < 2) {
    need(3);
    literals = (b0 >> 4) | ((b[p + 1]! & 0x3f) << 4);
    stored = (b[p + 1]! >> 6) | (b[p + 2]! << 2);
    p += 3;
  } else if (format === 2) {
    need(4);
    literals = (b0 >> 4) | (b[p + 1]! << 4) | ((b[p + 2]! & 3) << 12);
    stored = (b[p + 2]! >> 2) | (b[p + 3]! << 6);
    p += 4;
  } else {
    need(5);
    literals = (b0 >> 4) | (b[p + 1]! << 4) | ((b[p + 2]! & 0x3f) << 12);
    stored = (b[p + 2]! >> 6) | (b[p + 3]! << 2) | (b[p + 4]! << 10);
    p += 5;
  }
  if (literals > blockMax) throw corrupt(`${literals} literals in a block limited to ${blockMax} bytes`, start);
  need(stored);
  p += stored;

  // Sequences section header.
  need(1);
  let count = b[p++]!;
  if (count === 0) {
    if (p !== end) throw corrupt('bytes after a block without sequences', p);
    return literals;
  }
  if (count === 255) need(2), (count = b[p]! + (b[p + 1]! << 8) + 0x7f00), (p += 2);
  else if (count >= 128) need(1), (count = ((count - 128) << 8) + b[p++]!);
  need(1);
  const modes = b[p++]!;
  if (modes & 3) throw corrupt('reserved bits of the sequence modes set', p - 1);
  const table = (mode: number, kind: 'll' | 'of' | 'ml', predefined: FseTable, maxAccuracy: number, maxSymbol: number): FseTable => {
    if (mode === 0) return (tables[kind] = predefined);
    if (mode === 1) {
      need(1);
      const code = b[p++]!;
      if (code > maxSymbol) throw corrupt(`RLE code ${code} above ${maxSymbol}`, p - 1);
      return (tables[kind] = rleTable(code));
    }
    if (mode === 2) {
      const t = readFseTable(b, p, end, maxAccuracy, maxSymbol);
      p = t.next;
      return (tables[kind] = t.table);
    }
    const repeated = tables[kind];
    if (!repeated) throw corrupt('a repeated table with none before it', p);
    return repeated;
  };
  const ll = table(modes >> 6, 'll', PREDEFINED_LL, 9, MAX_LL);
  const of = table((modes >> 4) & 3, 'of', PREDEFINED_OF, 8, MAX_OF);
  const ml = table((modes >> 2) & 3, 'ml', PREDEFINED_ML, 9, MAX_ML);

  // The sequences: only their lengths are kept, checked against the literals and the block limit.
  const bits = new BackwardBits(b, p, end);
  let llState = bits.read(ll.accuracy);
  let ofState = bits.read(of.accuracy);
  let mlState = bits.read(ml.accuracy);
  let literalsUsed = 0;
  let size = literals;
  for (let i = 0; i < count; i++) {
    const llCode = ll.symbol[llState]!;
    const mlCode = ml.symbol[mlState]!;
    bits.read(of.symbol[ofState]!); // the offset's extra bits: the offset itself is the decoder's to check
    const matchLength = ML_BASE[mlCode]! + bits.read(ML_BITS[mlCode]!);
    literalsUsed += LL_BASE[llCode]! + bits.read(LL_BITS[llCode]!);
    size += matchLength;
    if (literalsUsed > literals) throw corrupt(`sequences copy more literals than the block's ${literals}`, start);
    if (size > blockMax) throw corrupt(`sequences make the block larger than its limit of ${blockMax} bytes`, start);
    if (i + 1 < count) {
      llState = ll.base[llState]! + bits.read(ll.bits[llState]!);
      mlState = ml.base[mlState]! + bits.read(ml.bits[mlState]!);
      ofState = of.base[ofState]! + bits.read(of.bits[ofState]!);
    }
  }
  if (!bits.done) throw corrupt('sequence bitstream not consumed exactly', p);
  return size;
}
