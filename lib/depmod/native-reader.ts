// The kernmod_xz addon's depmod reader (native/xz.cc depmodReadBatch): module files read, decoded and
// their symbols pulled on the libuv thread pool, a batch of files per call, so that both cores read and
// decode while this thread indexes. module-symbols.ts stays the reference: a file the addon does not
// take (any error, gzip, zstd, an odd ELF) comes back as a number and is read there, which reports it.
// Without the addon (not built, or KERNMOD_XZ=js) depmod reads every file in TypeScript.
import { loadAddon } from '../backend/addon.js';
import type { ModuleSymbol, ModuleSymbols } from './module-symbols.js';

/**
 * What depmod keeps of a module between reading it and resolving dependencies, its needed symbols
 * packed into one string: thousands of modules' worth of small objects that all survive until the end
 * would make every young-generation collection copy them again.
 */
export interface Packed {
  info: Array<[key: 'alias' | 'softdep', value: string]>;
  exports: ModuleSymbol[];
  /** Names NUL-separated. */
  needs: string;
  /** '1' for a weak reference, '0' otherwise, one per name. */
  weak: string;
  /** Only when CRCs are compared. */
  crcs: bigint[] | undefined;
}

/** As native/xz.cc describes them; a number: read that file in TypeScript. */
type NativeEntry = number | [info: string, exports: string, exportCount: number, needs: string, weak: string, crcs?: BigUint64Array];

interface Binding {
  available: boolean;
  depmodReadBatch?(paths: string[], crcs: boolean): Promise<NativeEntry[]>;
}

/** A module read by module-symbols.ts, as depmod keeps it. */
export function pack(r: ModuleSymbols, crcs: boolean): Packed {
  let weak = '';
  for (const n of r.needs) weak += n.weak ? '1' : '0';
  return {
    info: r.info,
    exports: r.exports,
    needs: r.needs.map((n) => n.name).join('\0'),
    weak,
    crcs: crcs ? r.needs.map((n) => n.crc) : undefined,
  };
}

export type BatchReader = (paths: string[], crcs: boolean) => Promise<Array<Packed | undefined>>;

let reader: BatchReader | null | undefined;

/** The addon's batch reader, or null without it. */
export function nativeBatchReader(): BatchReader | null {
  if (reader !== undefined) return reader;
  reader = null;
  if (process.env.KERNMOD_XZ === 'js') return reader;
  try {
    const x = loadAddon<Binding>('kernmod_xz').binding;
    const read = x.available ? x.depmodReadBatch?.bind(x) : undefined;
    if (read) reader = async (paths, crcs) => (await read(paths, crcs)).map((e) => (typeof e === 'number' ? undefined : unpack(e, crcs)));
  } catch {
    /* not built: read in TypeScript */
  }
  return reader;
}

function unpack([info, exports, exportCount, needs, weak, crcs]: Exclude<NativeEntry, number>, withCrcs: boolean): Packed {
  const names = exportCount === 0 ? [] : exports.split('\0');
  return {
    info: info === '' ? [] : info.split('\0').map((s) => [s[0] === 'a' ? 'alias' : 'softdep', s.slice(1)]),
    exports: names.map((name, i) => ({ name, crc: crcs?.[i] ?? 0n })),
    needs,
    weak,
    crcs: withCrcs ? Array.from(crcs!.subarray(names.length)) : undefined,
  };
}
