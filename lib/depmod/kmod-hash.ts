// The iteration order of kmod's hash table (shared/hash.c), which depmod's output inherits: modules
// are listed in modules_by_name order when modules.order does not place them, and modules.symbols
// follows the symbol table's order. A key goes to bucket hash_superfast(key) & (buckets - 1); a bucket
// keeps its keys sorted by strcmp; iteration walks the buckets in order. Keys are binary strings (one
// char per byte).

/** Paul Hsieh's SuperFastHash as kmod computes it on x86 (little-endian loads, signed `char`). */
function hashSuperfast(key: string): number {
  let len = key.length;
  let hash = len >>> 0;
  const rem = len & 3;
  len >>>= 2;
  let p = 0;
  const u16 = (at: number) => key.charCodeAt(at) | (key.charCodeAt(at + 1) << 8);
  const schar = (at: number) => (key.charCodeAt(at) << 24) >> 24;
  for (; len > 0; len--) {
    hash = (hash + u16(p)) >>> 0;
    const tmp = ((u16(p + 2) << 11) ^ hash) >>> 0;
    hash = ((hash << 16) ^ tmp) >>> 0;
    p += 4;
    hash = (hash + (hash >>> 11)) >>> 0;
  }
  switch (rem) {
    case 3:
      hash = (hash + u16(p)) >>> 0;
      hash = (hash ^ (hash << 16)) >>> 0;
      hash = (hash ^ (schar(p + 2) << 18)) >>> 0;
      hash = (hash + (hash >>> 11)) >>> 0;
      break;
    case 2:
      hash = (hash + u16(p)) >>> 0;
      hash = (hash ^ (hash << 11)) >>> 0;
      hash = (hash + (hash >>> 17)) >>> 0;
      break;
    case 1:
      hash = (hash + schar(p)) >>> 0;
      hash = (hash ^ (hash << 10)) >>> 0;
      hash = (hash + (hash >>> 1)) >>> 0;
  }
  hash = (hash ^ (hash << 3)) >>> 0;
  hash = (hash + (hash >>> 5)) >>> 0;
  hash = (hash ^ (hash << 4)) >>> 0;
  hash = (hash + (hash >>> 17)) >>> 0;
  hash = (hash ^ (hash << 25)) >>> 0;
  hash = (hash + (hash >>> 6)) >>> 0;
  return hash;
}

/** `keys` (distinct) in the order kmod's hash_iter visits a table of `buckets` (a power of two) buckets. */
export function kmodHashOrder<T>(entries: Iterable<[string, T]>, buckets: number): T[] {
  const byBucket: Array<Array<[string, T]> | undefined> = new Array(buckets);
  for (const e of entries) {
    const b = hashSuperfast(e[0]) & (buckets - 1);
    (byBucket[b] ??= []).push(e);
  }
  const out: T[] = [];
  for (const bucket of byBucket) {
    if (!bucket) continue;
    if (bucket.length > 1) bucket.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    for (const e of bucket) out.push(e[1]);
  }
  return out;
}
