// The modprobe context: a module directory and the configuration, read once, then any number of
// lookups, plans, probes and removals (like a kmod_ctx). `resolve`, `probe` and `remove` below open one
// for a single call.
import type { Kernmod } from '../kernmod.js';
import { encodeParams } from '../params.js';
import type { ModprobeConfig } from './config.js';
import { loadConfig, loadConfigSync } from './config-files.js';
import { formatConfig } from './format.js';
import { ModuleDirectory } from './moddir.js';
import { executePlan, type ExecuteOptions, type ProbeResult } from './probe.js';
import { executeRemove, type RemoveOptions, type RemoveResult } from './remove.js';
import { Resolver, type LookupResult, type Plan, type ResolveOptions } from './resolve.js';

export interface ModprobeOptions {
  /** `-d ROOT`: the module directory is ROOT/lib/modules/<release>. */
  root?: string;
  /** `-S RELEASE`: the kernel release instead of the running one (`uname -r`). */
  release?: string;
  /** The module directory itself (overrides root and release). */
  dirname?: string;
  /** `-C`: config directories or files replacing /etc/modprobe.d, /run/modprobe.d, /usr/local/lib/modprobe.d, /lib/modprobe.d. */
  config?: readonly string[];
  /** The kernel command line to read `mod.param=` and `modprobe.blacklist=` from; false to ignore it. Default /proc/cmdline. */
  cmdline?: string | false;
  /** Root of /sys for the already-loaded checks (tests, containers). */
  sysRoot?: string;
}

/** uname -r, from node:os loaded on first need (start-up: `-S RELEASE` never loads it). */
const osRelease = (): string => process.getBuiltinModule('node:os').release();

/**
 * The module directory kmod would use: ROOT + /lib/modules/ + RELEASE when `-d`/`-S` are given (made
 * absolute against the working directory, not normalised — kmod prints `-d /` paths as `//lib/...`),
 * else /lib/modules/$(uname -r).
 */
export function moduleDirname(opts: Pick<ModprobeOptions, 'root' | 'release' | 'dirname'> = {}): string {
  if (opts.dirname !== undefined) return opts.dirname;
  if (opts.root === undefined && opts.release === undefined) return `/lib/modules/${osRelease()}`;
  const dir = `${opts.root ?? ''}/lib/modules/${opts.release ?? osRelease()}`;
  return dir.startsWith('/') ? dir : `${process.cwd()}/${dir}`;
}

export type ProbeOptions = ResolveOptions & Omit<ExecuteOptions, 'sysRoot'>;

export class Modprobe {
  private constructor(
    readonly moduleDirectory: ModuleDirectory,
    readonly config: ModprobeConfig,
    private readonly sysRoot: string | undefined,
  ) {}

  /** The directory in use, as kmod prints it. */
  get dirname(): string {
    return this.moduleDirectory.dirname;
  }

  static async open(opts: ModprobeOptions = {}): Promise<Modprobe> {
    const dirname = moduleDirname(opts);
    const [moddir, config] = await Promise.all([
      ModuleDirectory.open(dirname),
      loadConfig({ paths: opts.config, moduleDir: dirname, cmdline: opts.cmdline }),
    ]);
    return new Modprobe(moddir, config, opts.sysRoot);
  }

  static openSync(opts: ModprobeOptions = {}): Modprobe {
    const dirname = moduleDirname(opts);
    const config = loadConfigSync({ paths: opts.config, moduleDir: dirname, cmdline: opts.cmdline });
    return new Modprobe(ModuleDirectory.openSync(dirname), config, opts.sysRoot);
  }

  private shared: Resolver | undefined;

  /**
   * The synchronous lookups share one Resolver (its configuration matchers are built once, not per
   * name: `modprobe -a` over thousands of names); each call still starts from a fresh module pool.
   */
  private resolver(): Resolver {
    return (this.shared ??= new Resolver(this.moduleDirectory, this.config));
  }

  /** The modules a name, alias (`pci:v...`, `fs-ext4`), `symbol:` or path stands for (modprobe -R). */
  lookup(nameOrAlias: string): LookupResult[] {
    return this.resolver().lookup(nameOrAlias);
  }

  /**
   * The lookup `modinfo NAME` makes (kmod_module_new_from_lookup): like lookup() but never a path, and
   * undefined when kmod refuses the argument as an alias (an unmatched bracket).
   */
  lookupAlias(nameOrAlias: string): LookupResult[] | undefined {
    return this.resolver().lookupAlias(nameOrAlias);
  }

  /** The lookup `modinfo -m NAME` makes (kmod_module_new_from_name_lookup): modules.dep, then built-ins. */
  lookupName(name: string): LookupResult | undefined {
    return this.resolver().lookupName(name);
  }

  /** What `modprobe NAME` would run, step by step; throws ERR_KERNMOD_NOT_FOUND if nothing matches. */
  resolve(nameOrAlias: string, opts: ResolveOptions = {}): Plan {
    return this.resolver().resolve(nameOrAlias, { sysRoot: this.sysRoot, ...opts });
  }

  /** Loads a module with its dependencies and softdeps, independent ones concurrently. */
  async probe(nameOrAlias: string, opts: ProbeOptions): Promise<ProbeResult> {
    // The caller's parameters are checked on every path, install commands included, before any step.
    const plan = this.resolve(nameOrAlias, opts.params === undefined ? opts : { ...opts, params: encodeParams(opts.params) });
    return executePlan(plan, { sysRoot: this.sysRoot, ...opts });
  }

  /** Unloads a module, then the dependencies and softdeps it leaves unused (modprobe -r). */
  async remove(nameOrAlias: string, opts: RemoveOptions): Promise<RemoveResult> {
    // Its own Resolver: removal awaits between steps, and a shared one's pool could be reset meanwhile.
    return executeRemove(new Resolver(this.moduleDirectory, this.config), nameOrAlias, { sysRoot: this.sysRoot, ...opts });
  }

  /** `modprobe -c`: the configuration, then the alias and symbol indexes. */
  showConfig(): string {
    return formatConfig(this.config, this.moduleDirectory.dumpIndex('alias'), this.moduleDirectory.dumpIndex('symbols'));
  }
}

/** resolve() for one name: opens the module directory and configuration, then plans. */
export async function resolve(nameOrAlias: string, opts: ModprobeOptions & ResolveOptions = {}): Promise<Plan> {
  return (await Modprobe.open(opts)).resolve(nameOrAlias, opts);
}

export function resolveSync(nameOrAlias: string, opts: ModprobeOptions & ResolveOptions = {}): Plan {
  return Modprobe.openSync(opts).resolve(nameOrAlias, opts);
}

/** probe() for one name: `modprobe NAME [PARAMS]` through the given Kernmod API. */
export async function probe(nameOrAlias: string, opts: ModprobeOptions & ProbeOptions & { kernmod: Kernmod }): Promise<ProbeResult> {
  return (await Modprobe.open(opts)).probe(nameOrAlias, opts);
}

/** remove() for one name: `modprobe -r NAME` through the given Kernmod API. */
export async function remove(nameOrAlias: string, opts: ModprobeOptions & RemoveOptions): Promise<RemoveResult> {
  return (await Modprobe.open(opts)).remove(nameOrAlias, opts);
}
