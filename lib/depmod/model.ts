// The in-memory tree depmod computes, shared by the computation (depmod.ts) and the writers (outputs.ts).
import type { ModuleSymbols } from './module-symbols.js';

export interface Mod {
  /** Normalized module name ('-' as '_'). */
  name: string;
  /** Absolute path as found. */
  path: string;
  /** Path relative to the tree, when the module is inside it (else modules.dep names `path`). */
  relpath: string | undefined;
  /** modules.order ordering key (kmod's sort_idx). */
  sortIdx: number;
  /** Position in the final module list: the index priority of its entries. */
  idx: number;
  /** Topological position (modules before the modules they need). */
  depSortIdx: number;
  info: ModuleSymbols['info'];
  /** Direct dependencies, in the order they were found, then sorted by depSortIdx. */
  deps: Mod[];
  /** How many modules depend on this one. */
  users: number;
}

export interface Sym {
  name: string;
  crc: bigint;
  /** null: provided by the kernel itself (Module.symvers / System.map), or one of kmod's fake symbols. */
  owner: Mod | null;
}

/** What the writers need. */
export interface Depmod {
  modules: Mod[];
  /** Each module's modules.dep line, in the order of `modules` (modules.dep and modules.dep.bin). */
  depLines: string[];
  /** The symbols a module provides, in kmod's hash order (modules.symbols and modules.symbols.bin). */
  ownedSymbols: Sym[];
  warnDuplicates: boolean;
  warn(message: string): void;
  error(message: string): void;
}
