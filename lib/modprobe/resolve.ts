// What `modprobe NAME` would do, computed as libkmod computes it (libkmod-module.c
// kmod_module_new_from_lookup, kmod_module_get_probe_list, kmod_module_probe_insert_module; research
// (a) and b10/b11), without touching the kernel except to ask which modules are already in it.
//
//  lookup:  config `alias` (fnmatch) -> modules.dep (exact name) -> modules.symbols (`symbol:` only)
//           -> `install`/`remove` lines (exact) -> modules.alias (fnmatch) -> modules.builtin
//           -> built-in aliases. The first source with an answer wins; it may give several modules.
//  probe list of module M: for each dependency D of M in load order (modules.dep lists them in
//           REVERSE): D's pre-softdeps (each with its own probe list), D, D's post-softdeps; then
//           M's pre-softdeps, M, M's post-softdeps. A module is expanded once per probe ("visited"),
//           but a dependency reached twice is listed twice (kmod does that; the second finds it loaded).
//  blacklist: applies to a module reached through an alias, or to any module with `useBlacklist` (-b).
//  options: every `options` line for the module's name (or the alias it was found by), then the
//           caller's options for the module asked for only (a name given twice is planned as kmod
//           shows it; the load passes only the later value, the one the kernel would keep).
//  install: a module with an `install` line runs the command instead of being loaded, unless it has
//           softdeps (kmod ignores the command then) or `ignoreInstall` (-i) for the module asked for.
import { existsSync } from 'node:fs';
import { invalidInput, KernmodError } from '../errors.js';
import { moduleState } from '../linux/state.js';
import { encodeParams, type ParamsInput } from '../params.js';
import { fnmatch } from './fnmatch.js';
import type { ModprobeConfig } from './config.js';
import type { DepLine, ModuleDirectory } from './moddir.js';
import { moduleNameFromPath, normalizeModuleName } from '../names.js';
import { normalizeAlias } from './normalize.js';
import { LINUX_ERRNO } from '../errno.js';

/** What one step of a probe does. */
export type StepAction =
  /** load the file with finit_module (path + params) */
  | 'insmod'
  /** run the `install` command from modprobe.d through /bin/sh instead */
  | 'install'
  /** built into the kernel: nothing to load */
  | 'builtin'
  /** already live in the running kernel: nothing to load */
  | 'loaded'
  /** neither a file in modules.dep nor built in (e.g. a config alias to a module that does not exist) */
  | 'missing';

export interface PlanStep {
  /** Kernel module name. */
  module: string;
  action: StepAction;
  /** Absolute file path (insmod). */
  path?: string;
  /** Options for the module: modprobe.d and kernel command line first, then the caller's (target only). */
  params: string;
  /** The install command as configured ($CMDLINE_OPTS not yet substituted). */
  command?: string;
  /** Why it is in the plan. */
  role: 'target' | 'dependency' | 'softdep';
  /** A failure stops the probe (the target and its modules.dep dependencies); softdep failures do not. */
  required: boolean;
  /** Modules of this plan that must be in the kernel before this step runs (the DAG's edges). */
  after: string[];
  /** `weakdep` modules: hints for initramfs builders; modprobe does not load them. */
  weakdeps?: string[];
  /** Set on a later occurrence of a module already listed (kmod lists it again; it is a no-op). */
  repeat?: true;
}

export interface ModulePlan {
  /** The module this part of the lookup result names. */
  module: string;
  /** The alias (pattern or query) it was found through, if any. */
  alias?: string;
  /**
   * ok: `steps` is the probe list; loaded/builtin: already in the kernel, nothing to do;
   * blacklisted: skipped because of a `blacklist` line (kmod exits 0 silently).
   */
  status: 'ok' | 'loaded' | 'builtin' | 'blacklisted';
  steps: PlanStep[];
}

export interface Plan {
  query: string;
  /** The module directory used. */
  dirname: string;
  /** Whether the running kernel's state was ignored (`--show-depends`). */
  ignoreLoaded: boolean;
  /** One entry per module the lookup found (an alias may name several), probed in this order. */
  modules: ModulePlan[];
}

export interface ResolveOptions {
  /**
   * Options for the module asked for, after the configured ones (modprobe's `NAME PARAMS...`): a
   * string or an object, as loadModule takes them; probe() checks them by loadModule's rules
   * (lib/params.ts) before anything runs.
   */
  params?: ParamsInput;
  /** Do not look at the running kernel: plan every step (kmod's --show-depends). Default false. */
  ignoreLoaded?: boolean;
  /** Apply the blacklist to module names too, not only to aliases (`-b`). */
  useBlacklist?: boolean;
  /** Ignore the target's `install` command (and its softdeps), as `-i`. */
  ignoreInstall?: boolean;
  /** Root of /sys for the already-loaded checks (tests, containers). */
  sysRoot?: string;
}

/** A kmod_module: one per name, or per name+alias for modules found through an alias. */
class Mod {
  visited = false;
  required = false;
  ignorecmd = false;
  /** unknown until asked; set by the builtin lookups and for modules created from a path */
  builtin: boolean | undefined;
  path: string | undefined;
  depsLoaded = false;
  deps: Mod[] = [];
  /** The `install` / `remove` command: undefined until looked up, null when there is none. */
  install: string | null | undefined;
  remove: string | null | undefined;
  constructor(
    readonly name: string,
    readonly alias: string | undefined,
  ) {}
}

/** Found modules for a name, as kmod's lookup chain returns them. */
export interface LookupResult {
  module: string;
  alias?: string;
  /** Which source answered. */
  source:
    | 'config-alias'
    | 'modules.dep'
    | 'modules.symbols'
    | 'install-command'
    | 'remove-command'
    | 'modules.alias'
    | 'modules.builtin'
    | 'builtin-alias'
    | 'path';
}

/** Modules found by one step of the lookup chain, with the step that found them. */
type Found = Array<{ mod: Mod; source: LookupResult['source'] }>;

const foundBy = (mods: Mod[], source: LookupResult['source']): Found => mods.map((mod) => ({ mod, source }));

const toLookupResult = ({ mod, source }: Found[number]): LookupResult => ({
  module: mod.name,
  ...(mod.alias !== undefined ? { alias: mod.alias } : {}),
  source,
});

/**
 * "The first config line whose module pattern fnmatches this name" (how kmod picks a softdep, weakdep,
 * install or remove line), answered without trying every line: exact names are a map lookup.
 */
class FirstMatch<T extends { module: string }> {
  private readonly exact = new Map<string, number>();
  private readonly wild: Array<{ i: number; entry: T }> = [];
  constructor(private readonly entries: T[]) {
    entries.forEach((e, i) => {
      if (/[*?[\\]/.test(e.module)) this.wild.push({ i, entry: e });
      else if (!this.exact.has(e.module)) this.exact.set(e.module, i);
    });
  }
  find(name: string): T | undefined {
    let best = this.exact.get(name) ?? Infinity;
    for (const w of this.wild) {
      if (w.i >= best) break;
      if (fnmatch(w.entry.module, name)) best = w.i;
    }
    return best === Infinity ? undefined : this.entries[best];
  }
}

/**
 * The resolver: a module directory plus configuration. Module objects live for one call, like the
 * kmod_module objects of one modprobe argument.
 */
export class Resolver {
  private readonly softdepLines: FirstMatch<ModprobeConfig['softdeps'][number]>;
  private readonly weakdepLines: FirstMatch<ModprobeConfig['weakdeps'][number]>;
  private readonly installLines: FirstMatch<ModprobeConfig['install'][number]>;
  private readonly removeLines: FirstMatch<ModprobeConfig['remove'][number]>;

  constructor(
    readonly moddir: ModuleDirectory,
    readonly config: ModprobeConfig,
  ) {
    this.softdepLines = new FirstMatch(config.softdeps);
    this.weakdepLines = new FirstMatch(config.weakdeps);
    this.installLines = new FirstMatch(config.install);
    this.removeLines = new FirstMatch(config.remove);
  }

  private pool = new Map<string, Mod>();

  private get(name: string, alias?: string): Mod {
    const key = alias === undefined ? name : `${name}\\${alias}`;
    let m = this.pool.get(key);
    if (!m) this.pool.set(key, (m = new Mod(name, alias)));
    return m;
  }

  /** kmod_module_new_from_path: the name is the file's, the path is fixed, and it is not built in. */
  private fromPath(path: string): Mod {
    const m = this.get(moduleNameFromPath(path));
    m.path ??= path;
    m.builtin = false;
    return m;
  }

  private loadDeps(m: Mod, line?: DepLine): void {
    if (m.depsLoaded) return;
    m.depsLoaded = true;
    line ??= this.moddir.dep(m.name);
    if (!line) return;
    m.path ??= line.path;
    // libkmod prepends each dependency, so the list comes out in load order.
    m.deps = line.deps.map((p) => this.fromPath(p)).reverse();
  }

  private pathOf(m: Mod): string | undefined {
    if (m.path === undefined) this.loadDeps(m);
    return m.path;
  }

  private isBuiltin(m: Mod): boolean {
    m.builtin ??= this.moddir.isBuiltin(m.name);
    return m.builtin;
  }

  private commandOf(m: Mod, kind: 'install' | 'remove'): string | undefined {
    m[kind] ??= (kind === 'install' ? this.installLines : this.removeLines).find(m.name)?.command ?? null;
    return m[kind] ?? undefined;
  }

  private optionsOf(m: Mod): string | undefined {
    const parts = this.config.options
      .filter((o) => (o.module === m.name || (m.alias !== undefined && o.module === m.alias)) && o.options !== '')
      .map((o) => o.options);
    return parts.length ? parts.join(' ') : undefined;
  }

  private blacklisted(m: Mod): boolean {
    return this.config.blacklist.includes(m.name);
  }

  private softdeps(m: Mod): { pre: Mod[]; post: Mod[] } {
    const sd = this.softdepLines.find(m.name);
    if (!sd) return { pre: [], post: [] };
    return { pre: this.lookupAll(sd.pre), post: this.lookupAll(sd.post) };
  }

  private weakdeps(m: Mod): string[] {
    return this.lookupAll(this.weakdepLines.find(m.name)?.deps ?? []).map((d) => d.name);
  }

  /** The modules each name of a softdep or weakdep line stands for, in order. */
  private lookupAll(names: string[]): Mod[] {
    return names.flatMap((n) => this.lookupMods(n)?.map((r) => r.mod) ?? []);
  }

  /**
   * A fresh module pool, then the modules a query stands for: the lookup chain's answer, or for a path
   * (modprobe ./x.ko, kmod v31+) that file, with the dependencies modules.dep lists for its name.
   */
  private targets(query: string): Mod[] | undefined {
    checkQuery(query);
    this.pool = new Map();
    return isPathQuery(query) ? [this.fromPath(absolutePath(query))] : this.lookupMods(query)?.map((f) => f.mod);
  }

  /** kmod_module_new_from_lookup; undefined for an invalid alias (unmatched bracket). */
  private lookupMods(query: string): Found | undefined {
    const name = normalizeAlias(query);
    if (name === undefined) return undefined;

    const fromConfig = this.config.aliases.filter((a) => fnmatch(a.pattern, name)).map((a) => this.get(a.module, a.pattern));
    if (fromConfig.length) return foundBy(fromConfig, 'config-alias');

    const byName = this.fromModulesDep(name);
    if (byName) return byName;

    if (name.startsWith('symbol:')) {
      const syms = this.moddir.symbols(name).map((mod) => this.get(mod, name));
      if (syms.length) return foundBy(syms, 'modules.symbols');
    }

    for (const kind of ['install', 'remove'] as const) {
      const line = this.config[kind].find((c) => c.module === name);
      if (!line) continue;
      const m = this.get(normalizeModuleName(line.module));
      m[kind] = line.command;
      return foundBy([m], `${kind}-command`);
    }

    const aliases = this.moddir.aliases(name).map((mod) => this.get(mod, name));
    if (aliases.length) return foundBy(aliases, 'modules.alias');

    return this.fromBuiltins(name);
  }

  /** kmod_lookup_alias_from_moddep_file: the module of that name in modules.dep, if any. */
  private fromModulesDep(name: string): Found | undefined {
    // Module names hold no ':', so an alias such as `pci:...` is not even looked up.
    if (name.includes(':')) return undefined;
    const line = this.moddir.dep(name);
    if (!line) return undefined;
    const m = this.get(normalizeModuleName(name));
    this.loadDeps(m, line);
    return foundBy([m], 'modules.dep');
  }

  /**
   * kmod_lookup_alias_from_builtin_file, then kmod_lookup_alias_from_kernel_builtin_file: a built-in
   * module of that name, else the built-in modules with a matching alias ([] when none).
   */
  private fromBuiltins(name: string): Found {
    if (this.moddir.isBuiltin(name)) {
      const m = this.get(normalizeModuleName(name));
      m.builtin = true;
      return foundBy([m], 'modules.builtin');
    }
    const builtins = this.moddir.builtinAliases(name).map((mod) => {
      const m = this.get(mod, name);
      m.builtin = true;
      return m;
    });
    return foundBy(builtins, 'builtin-alias');
  }

  /** The modules a name or alias stands for, in the order modprobe probes them ([] if none). */
  lookup(query: string): LookupResult[] {
    checkQuery(query);
    if (isPathQuery(query)) return [{ module: moduleNameFromPath(query), source: 'path' }];
    return this.lookupAlias(query) ?? [];
  }

  /**
   * kmod_module_new_from_lookup itself, as modinfo calls it: the query is always a name or alias (the
   * caller has told files apart), and one kmod refuses as an alias (an unmatched bracket) gives
   * undefined rather than [], since modinfo reports the two differently.
   */
  lookupAlias(query: string): LookupResult[] | undefined {
    checkQuery(query);
    this.pool = new Map();
    return this.lookupMods(query)?.map(toLookupResult);
  }

  /**
   * kmod_module_new_from_name_lookup (`modinfo -m`): the name as a module name (modname_normalize),
   * looked up in modules.dep, then among the built-ins — where kmod also tries the built-in alias index,
   * so a built-in module's alias still answers. No configuration, symbols or modules.alias. The first
   * module found, or undefined.
   */
  lookupName(name: string): LookupResult | undefined {
    checkQuery(name);
    this.pool = new Map();
    const n = normalizeModuleName(name);
    const first = (this.fromModulesDep(n) ?? this.fromBuiltins(n))[0];
    return first && toLookupResult(first);
  }

  // ---- the probe list --------------------------------------------------------------------------

  private probeList(m: Mod, required: boolean, ignorecmd: boolean, list: Entry[]): void {
    if (m.visited) return;
    m.visited = true;
    this.loadDeps(m);
    const deps = m.deps;
    if (required) {
      m.required = true;
      for (const d of deps) d.required = true;
    }
    for (const d of deps) this.fillSoftdep(d, list);
    if (ignorecmd) {
      list.push({ mod: m, pre: [], post: [] });
      m.ignorecmd = true;
    } else this.fillSoftdep(m, list);
  }

  private fillSoftdep(m: Mod, list: Entry[]): void {
    const { pre, post } = this.softdeps(m);
    for (const p of pre) this.probeList(p, false, false, list);
    list.push({ mod: m, pre, post });
    m.ignorecmd = pre.length > 0 || post.length > 0;
    for (const p of post) this.probeList(p, false, false, list);
  }

  private inKernel(m: Mod, sysRoot: string | undefined): 'builtin' | 'loaded' | undefined {
    if (this.isBuiltin(m)) return 'builtin';
    return moduleState(m.name, sysRoot === undefined ? {} : { root: sysRoot }) === 'live' ? 'loaded' : undefined;
  }

  /** The plan for one module found by the lookup (kmod_module_probe_insert_module, dry). */
  private planModule(target: Mod, opts: ResolveOptions & { params?: string }): ModulePlan {
    const head = { module: target.name, ...(target.alias !== undefined ? { alias: target.alias } : {}) };
    if (!opts.ignoreLoaded) {
      const state = this.inKernel(target, opts.sysRoot);
      if (state) return { ...head, status: state, steps: [] };
    }
    if (this.blacklisted(target) && (target.alias !== undefined || opts.useBlacklist)) return { ...head, status: 'blacklisted', steps: [] };

    for (const m of this.pool.values()) {
      m.visited = false;
      m.required = false;
    }
    const list: Entry[] = [];
    this.probeList(target, true, opts.ignoreInstall ?? false, list);

    const steps: PlanStep[] = [];
    const seen = new Set<string>();
    // Who must come before whom: hard dependencies, and pre-softdeps before / post-softdeps after their
    // module. Only edges to modules listed earlier are kept, so the graph is acyclic and every order it
    // allows is one kmod's sequential order also satisfies for those pairs.
    const postOf = new Map<Mod, Mod[]>();
    for (const e of list) for (const q of e.post) (postOf.get(q) ?? postOf.set(q, []).get(q)!).push(e.mod);
    let barrier: string | undefined; // the last install command: everything after it waits for it
    for (const e of list) {
      const m = e.mod;
      this.loadDeps(m); // its own dependencies, for the edges (kmod does not need them for the order)
      const repeat = seen.has(m.name);
      const after = new Set<string>();
      if (!repeat) {
        for (const d of m.deps) if (seen.has(d.name)) after.add(d.name);
        for (const p of e.pre) if (seen.has(p.name)) after.add(p.name);
        for (const q of postOf.get(m) ?? []) if (seen.has(q.name)) after.add(q.name);
        if (barrier !== undefined) after.add(barrier);
      }
      const params = concatOptions(this.optionsOf(m), m === target ? opts.params : undefined);
      const role: PlanStep['role'] = m === target ? 'target' : m.required ? 'dependency' : 'softdep';
      const step: PlanStep = { module: m.name, action: 'insmod', params, role, required: m.required, after: [...after] };
      const state = opts.ignoreLoaded ? undefined : this.inKernel(m, opts.sysRoot);
      const cmd = this.commandOf(m, 'install');
      if (state) step.action = state;
      else if (cmd !== undefined && !m.ignorecmd) {
        step.action = 'install';
        step.command = cmd;
        if (!repeat) {
          // An install command may load anything: run it alone.
          for (const s of seen) after.add(s);
          step.after = [...after];
          barrier = m.name;
        }
      } else {
        const path = this.pathOf(m);
        if (path !== undefined) step.path = path;
        else step.action = this.isBuiltin(m) ? 'builtin' : 'missing';
      }
      const weak = this.weakdeps(m);
      if (weak.length) step.weakdeps = weak;
      if (repeat) step.repeat = true;
      steps.push(step);
      seen.add(m.name);
    }
    return { ...head, status: 'ok', steps };
  }

  /**
   * The plan for `modprobe NAME`: throws a KernmodError (code ERR_KERNMOD_NOT_FOUND) when nothing
   * matches, as modprobe's "Module NAME not found in directory DIR".
   */
  resolve(query: string, opts: ResolveOptions = {}): Plan {
    // An object is encoded (and so checked); a string is planned as written, as kmod's -D shows it.
    // probe() checks a string before it plans (modprobe.ts), so nothing unchecked is ever run.
    const params = opts.params === undefined || typeof opts.params === 'string' ? opts.params : encodeParams(opts.params);
    const targets = this.targets(query);
    if (!targets?.length) throw notFound(query, this.moddir.dirname);
    const ignoreLoaded = opts.ignoreLoaded ?? false;
    const planOpts = { ...opts, params };
    return { query, dirname: this.moddir.dirname, ignoreLoaded, modules: targets.map((t) => this.planModule(t, planOpts)) };
  }

  // ---- what removal needs ------------------------------------------------------------------------

  /** For `modprobe -r`: the lookup, then each module's softdeps, remove command and dependencies. */
  removalInfo(query: string): RemovalInfo[] | undefined {
    const targets = this.targets(query);
    return targets?.length ? targets.map((m) => this.removalOf(m)) : undefined;
  }

  /** The `remove` command that replaces unloading, if any; modules.dep dependencies in load order. */
  private removalOf(m: Mod) {
    this.loadDeps(m);
    const { pre, post } = this.softdeps(m);
    const command = this.commandOf(m, 'remove');
    return {
      module: m.name,
      builtin: this.isBuiltin(m),
      ...(command !== undefined ? { command } : {}),
      deps: m.deps.map((d) => d.name),
      pre: pre.map((p) => p.name),
      post: post.map((p) => p.name),
    };
  }

  /** Removal facts for a module by name (a softdep or holder met during removal). */
  removalByName(name: string) {
    return this.removalOf(this.get(normalizeModuleName(name)));
  }
}

type Entry = { mod: Mod; pre: Mod[]; post: Mod[] };

export type RemovalInfo = ReturnType<Resolver['removalByName']>;

/** kmod's module_options_concat: "<config> <caller>"; config options alone keep a trailing space. */
function concatOptions(config: string | undefined, extra: string | undefined): string {
  if (!config && !extra) return '';
  if (config === undefined || config === '') return extra ?? '';
  return `${config} ${extra ?? ''}`;
}

/**
 * A name, alias or path to look up: a string without NUL (kmod's C strings cannot hold one; here it
 * would reach a path, an environment variable or a file name cut short).
 */
function checkQuery(query: unknown): asserts query is string {
  if (typeof query !== 'string')
    throw invalidInput(
      'ERR_KERNMOD_INVALID_NAME',
      `a module name or alias must be a string, got ${query === null ? 'null' : typeof query}`,
    );
  if (query.includes('\0'))
    throw invalidInput('ERR_KERNMOD_INVALID_NAME', `module name or alias ${JSON.stringify(query)} contains NUL`, { module: query });
}

/** modprobe (kmod v31+) treats an argument starting with `/` or `./` as a file. */
function isPathQuery(query: string): boolean {
  return query.startsWith('/') || query.startsWith('./');
}

/**
 * The file of a path query, made absolute as kmod does (path_make_absolute_cwd: the working directory,
 * a `/`, then the path as given, not normalised). A missing file is an error, as in kmod.
 */
function absolutePath(query: string): string {
  const abs = query.startsWith('/') ? query : `${process.cwd()}/${query}`;
  if (!existsSync(abs)) {
    throw new KernmodError({
      code: 'ENOENT',
      errno: -LINUX_ERRNO.ENOENT,
      syscall: 'open',
      path: query,
      phase: 'open',
      message: `Failed to get module from path ${query}: No such file or directory`,
      hint: 'the module file does not exist',
    });
  }
  return abs;
}

function notFound(query: string, dirname: string): KernmodError {
  return new KernmodError({
    code: 'ERR_KERNMOD_NOT_FOUND',
    phase: 'validate',
    module: query,
    path: dirname,
    message: `Module ${query} not found in directory ${dirname}`,
    hint: 'no module file, alias, symbol or built-in module has this name: check the spelling, or run depmod for this kernel',
  });
}
