// Which module files depmod indexes (kmod 30 tools/depmod.c, depmod_modules_search*): every
// *.ko / *.ko.gz / *.ko.xz / *.ko.zst under the tree (directory entries in readdir order; `build`,
// `source` and excluded names skipped), then each `external` directory. Two files with one module name:
// the higher priority stays — an `override` first, then the `search` list; with equal priorities the
// one found first.
import { opendirSync, statSync, type Dirent, type Stats } from 'node:fs';
import type { DepmodConfig } from './config.js';

const MODULE_EXTENSIONS = ['.ko', '.ko.gz', '.ko.xz', '.ko.zst'] as const;

export function hasModuleExtension(name: string): boolean {
  for (const ext of MODULE_EXTENSIONS) if (name.length > ext.length && name.endsWith(ext)) return true;
  return false;
}

/** kmod's modname_normalize over the basename: up to the first '.', '-' as '_'. */
export function moduleNameOf(path: string): string {
  const base = path.slice(path.lastIndexOf('/') + 1);
  const dot = base.indexOf('.');
  return (dot === -1 ? base : base.slice(0, dot)).replaceAll('-', '_');
}

export interface FoundModule {
  name: string;
  path: string;
}

/** Directory entries in the order readdir returns them (fs.readdirSync sorts them; kmod does not). */
function entries(dir: string): Dirent[] {
  const d = opendirSync(dir); // opened and read now: a failure is the caller's to report
  try {
    const list: Dirent[] = [];
    for (let e = d.readSync(); e !== null; e = d.readSync()) list.push(e);
    return list;
  } finally {
    d.closeSync();
  }
}

export class ModuleSearch {
  /** By module name; Map order is irrelevant (kmod's table order is recomputed from the names). */
  readonly found = new Map<string, FoundModule>();
  /** Told each module file as it is found (a later one of the same name may replace it). */
  onFound?: (path: string) => void;

  constructor(
    private readonly dirname: string,
    private readonly cfg: DepmodConfig,
    private readonly error: (text: string) => void,
  ) {}

  /**
   * Searches the tree, then the external directories, on this thread: on the pool, a symlink's stat would
   * wait behind the decoding it feeds. Throws (ENOENT ...) when the tree cannot be opened.
   */
  run(): void {
    this.searchPath(this.dirname, true);
    for (const ext of this.cfg.externals) this.searchPath(ext, false);
  }

  private searchPath(path: string, top: boolean): void {
    let list: Dirent[];
    try {
      list = entries(path);
    } catch (e) {
      this.error(`could not open directory ${path}: ${strerror(e)}\n`);
      if (top) throw e;
      return;
    }
    this.walk(path + '/', list);
  }

  private walk(base: string, list: Dirent[]): void {
    for (const de of list) {
      const sub = this.entry(base, de);
      if (sub) this.walk(base + de.name + '/', sub);
    }
  }

  private skipped(name: string): boolean {
    return name === '.' || name === '..' || name === 'build' || name === 'source' || this.cfg.excludes.has(name);
  }

  /** One directory entry (stat'ed when its type does not say): a module is added; a directory's entries are returned. */
  private entry(base: string, de: Dirent): Dirent[] | undefined {
    const name = de.name;
    if (this.skipped(name)) return undefined;
    const path = base + name;
    const type = de.isFile() || de.isDirectory() ? de : statSyncOf(path);
    if (type instanceof Error) {
      this.error(`fstatat(${base.slice(0, -1)}, ${name}): ${strerror(type)}\n`);
    } else if (type.isDirectory()) {
      try {
        return entries(path);
      } catch (e) {
        this.error(`openat(${base.slice(0, -1)}, ${name}, O_RDONLY): ${strerror(e)}\n`);
      }
    } else if (!type.isFile()) {
      this.error(`unsupported file type ${path}: ${((type as Stats).mode & 0o170000).toString(8)}\n`);
    } else if (hasModuleExtension(name)) this.add(path);
    return undefined;
  }

  /** Adds a module file, or keeps the one already found when it has the higher priority. */
  add(path: string): void {
    const name = moduleNameOf(path);
    const old = this.found.get(name);
    if (old && this.existingWins(old.path, path, name.length)) return;
    this.found.set(name, { name, path });
    this.onFound?.(path);
  }

  /** depmod_module_is_higher_priority (true: keep `oldpath`). Paths are compared up to the module name. */
  private existingWins(oldpath: string, newpath: string, namelen: number): boolean {
    const stem = (p: string) => p.slice(0, p.lastIndexOf('/') + 1 + namelen);
    const newStem = stem(newpath);
    const oldStem = stem(oldpath);
    const dir = this.dirname;
    const rel = (p: string) => (p.startsWith(dir) ? p.slice(dir.length + 1) : undefined);
    const relNew = rel(newStem);
    const relOld = rel(oldStem);
    for (const ov of this.cfg.overrides) {
      if (relNew === ov) return false;
      if (relOld === ov) return true;
    }
    let bprio = -1;
    let oldprio = -1;
    let newprio = -1;
    const under = (p: string | undefined, prefix: string) =>
      p !== undefined && p.length > prefix.length && p[prefix.length] === '/' && p.startsWith(prefix);
    // kmod's list holds the config's searches last-first; a later index means a higher priority.
    let i = 0;
    for (const se of this.cfg.searches) {
      if (se.type === 'built-in') bprio = i;
      else if (se.type === 'external') {
        for (const ext of this.cfg.externals) {
          if (under(newStem, ext)) newprio = i;
          if (under(oldStem, ext)) oldprio = i;
          i++;
        }
      } else if (under(relNew, se.path)) newprio = i;
      else if (under(relOld, se.path)) oldprio = i;
      i++;
    }
    if (newprio < 0) newprio = bprio;
    if (oldprio < 0) oldprio = bprio;
    return newprio <= oldprio;
  }
}

function statSyncOf(path: string): Stats | Error {
  try {
    return statSync(path);
  } catch (e) {
    return e as Error;
  }
}

export function strerror(e: unknown): string {
  const code = (e as NodeJS.ErrnoException)?.code;
  const messages: Record<string, string> = {
    ENOENT: 'No such file or directory',
    EACCES: 'Permission denied',
    ENOTDIR: 'Not a directory',
    EISDIR: 'Is a directory',
    ELOOP: 'Too many levels of symbolic links',
    EINVAL: 'Invalid argument',
    ENOEXEC: 'Exec format error',
    EEXIST: 'File exists',
    ENOSPC: 'No space left on device',
    EROFS: 'Read-only file system',
  };
  return (code && messages[code]) ?? (e as Error)?.message ?? String(e);
}
