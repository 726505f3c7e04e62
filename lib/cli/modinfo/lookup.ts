// Which modules a `kernmod modinfo` argument names, decided as kmod's modinfo decides it: the libkmod
// lookups modprobe uses too (lib/modprobe), then, per module found, where its information comes from
// (kmod_module_get_path, then kmod_module_get_info's built-in check).
import { join } from 'node:path';
import { readRegularFileSync } from '../../fs-read.js';
import { Modprobe } from '../../modprobe/index.js';
import type { LookupResult } from '../../modprobe/index.js';

/** modules.builtin.modinfo is an index file of the tree: read only when regular, at most 256 MiB. */
const BUILTIN_MODINFO_MAX_BYTES = 256 * 1024 * 1024;

/**
 * A module modinfo prints: a file from modules.dep, or — without one — a built-in. kmod prints every
 * module without a path as `(builtin)`, but reads modules.builtin.modinfo only for one it knows is built
 * in (`listed`: found through the built-in indexes, or named in modules.builtin); for any other, such as
 * an alias to a module missing from modules.dep, it prints the name and filename lines and nothing more.
 */
export type ResolvedModule = { kind: 'file'; name: string; path: string } | { kind: 'builtin'; name: string; listed: boolean };

/** What one argument came to: modules, or why none (kmod words the three failures differently). */
export type Resolution = { ok: true; modules: ResolvedModule[] } | { ok: false; code: 'ENOENT' | 'EINVAL'; message: string };

/**
 * One module directory as modinfo uses it, opened on first need (a run over files alone never reads
 * it). kmod's modinfo calls kmod_new with an empty configuration list, so modprobe.d takes no part —
 * no config aliases, no install or remove commands; the kernel command line cannot change a lookup, so
 * it is not read.
 */
export class ModinfoLookup {
  private modprobe?: Modprobe;
  private builtinModinfoBytes?: Uint8Array | null;

  constructor(private readonly where: { root?: string; release?: string }) {}

  private open(): Modprobe {
    this.modprobe ??= Modprobe.openSync({ ...this.where, config: [], cmdline: false });
    return this.modprobe;
  }

  /** `modinfo NAME|ALIAS`: every module the lookup gives, in kmod's order (repeats included). */
  byAlias(arg: string): Resolution {
    const found = this.open().lookupAlias(arg);
    if (found === undefined) return { ok: false, code: 'EINVAL', message: `Module alias ${arg} not found.` };
    if (found.length === 0) return { ok: false, code: 'ENOENT', message: `Module ${arg} not found.` };
    return { ok: true, modules: found.map((r) => this.locate(r)) };
  }

  /** `modinfo -m NAME`: one module by name. */
  byName(arg: string): Resolution {
    const found = this.open().lookupName(arg);
    if (found === undefined) return { ok: false, code: 'ENOENT', message: `Module name ${arg} not found.` };
    return { ok: true, modules: [this.locate(found)] };
  }

  private locate(r: LookupResult): ResolvedModule {
    const dir = this.open().moduleDirectory;
    const line = dir.dep(r.module);
    if (line) return { kind: 'file', name: r.module, path: line.path };
    const listed = r.source === 'modules.builtin' || r.source === 'builtin-alias' || dir.isBuiltin(r.module);
    return { kind: 'builtin', name: r.module, listed };
  }

  /** The bytes of modules.builtin.modinfo, or null when the kernel predates it (Linux < 5.2). */
  builtinModinfo(): Uint8Array | null {
    if (this.builtinModinfoBytes === undefined) {
      try {
        this.builtinModinfoBytes = readRegularFileSync(join(this.open().dirname, 'modules.builtin.modinfo'), BUILTIN_MODINFO_MAX_BYTES);
      } catch {
        this.builtinModinfoBytes = null;
      }
    }
    return this.builtinModinfoBytes;
  }
}
