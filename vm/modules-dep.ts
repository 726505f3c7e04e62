// Works out which modules the initramfs must insmod before the guest can mount the host over
// virtio-9p. The set differs per kernel build (6.1 ships virtio/virtio_pci as modules, 6.12 has them
// built in and compresses modules), so it is derived from the kernel's own modules.dep and
// modules.builtin instead of being hard-coded. Pure functions over file contents.

/** Modules the guest needs: the 9p file system, its virtio transport, and the PCI virtio bus. */
export const BOOTSTRAP_TARGETS = ['9p', '9pnet_virtio', 'virtio_pci'] as const;

/** Kernel module name of a modules.dep path: basename without .ko[.xz|.zst|.gz], '-' read as '_'. */
export function moduleNameOf(path: string): string {
  const base = path.slice(path.lastIndexOf('/') + 1);
  return base.replace(/\.ko(\.(xz|zst|gz))?$/, '').replace(/-/g, '_');
}

export interface ModulesDep {
  /** module name -> path relative to /lib/modules/<release> */
  path: Map<string, string>;
  /** module name -> names of the modules it depends on (as listed by depmod) */
  deps: Map<string, string[]>;
}

/** Parse modules.dep ("kernel/a.ko: kernel/b.ko kernel/c.ko" per line). */
export function parseModulesDep(text: string): ModulesDep {
  const path = new Map<string, string>();
  const deps = new Map<string, string[]>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const mod = line.slice(0, colon).trim();
    const name = moduleNameOf(mod);
    path.set(name, mod);
    deps.set(
      name,
      line
        .slice(colon + 1)
        .trim()
        .split(/\s+/)
        .filter(Boolean)
        .map(moduleNameOf),
    );
  }
  return { path, deps };
}

/** Parse modules.builtin (one "kernel/x/y.ko" per line) into a set of module names. */
export function parseModulesBuiltin(text: string): Set<string> {
  const out = new Set<string>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line !== '' && !line.startsWith('#')) out.add(moduleNameOf(line));
  }
  return out;
}

export interface BootstrapModule {
  name: string;
  /** path relative to the modules directory, possibly compressed (.ko.xz etc.) */
  path: string;
}

/**
 * Dependency closure of `targets`, in an order that loads every module after its dependencies.
 * Built-in targets are skipped; a target that is neither a module nor built in is an error, because
 * the guest would fail later with a much less helpful "mount: no such device".
 */
export function bootstrapModules(
  dep: ModulesDep,
  builtin: ReadonlySet<string>,
  targets: readonly string[] = BOOTSTRAP_TARGETS,
): BootstrapModule[] {
  const order: BootstrapModule[] = [];
  const done = new Set<string>();
  const visiting = new Set<string>();
  const visit = (name: string, from: string | null): void => {
    if (done.has(name)) return;
    if (visiting.has(name)) throw new Error(`modules.dep: dependency cycle through ${name}`);
    const path = dep.path.get(name);
    if (path === undefined) {
      if (builtin.has(name)) {
        done.add(name);
        return;
      }
      throw new Error(
        from === null
          ? `kernel has neither a module nor a built-in named ${name} (needed to mount the host over virtio-9p)`
          : `modules.dep: ${from} depends on ${name}, which is not listed`,
      );
    }
    visiting.add(name);
    for (const d of dep.deps.get(name) ?? []) visit(d, name);
    visiting.delete(name);
    done.add(name);
    order.push({ name, path });
  };
  for (const t of targets) visit(t.replace(/-/g, '_'), null);
  return order;
}
