// `kernmod modinfo` over its arguments, in order and synchronously but for waiting on the module files
// the pool read: decide what each argument names (kmod's is_module_filename, else a lookup by alias or
// name), read and decode each module, and render what kmod would print for it — stdout and stderr text
// in kmod's order, or --json items.
import { closeSync, constants, fstatSync, openSync, realpathSync, statSync } from 'node:fs';
import { errnoInfo, LINUX_ERRNO } from '../../errno.js';
import { KernmodError, systemError } from '../../errors.js';
import { builtinModinfo } from '../../elf/builtin.js';
import {
  builtinModuleInfo,
  decodeModuleSync,
  modinfoFromImage,
  modinfoSync,
  withPath,
  type ModinfoOptions,
  type ModuleInfo,
} from '../../elf/modinfo.js';
import { moduleNameFromPath, MODULE_EXTENSIONS } from '../../names.js';
import { HEAD_BYTES, OpenModuleReader } from './open-file.js';
import { errorJson } from '../output.js';
import { formatHeader, formatModinfo, invalidParmLines, modinfoJson, type FormatOptions } from './format.js';
import type { ModinfoLookup, Resolution, ResolvedModule } from './lookup.js';
import type { ModulePrefetcher } from './prefetch.js';

/** What the command line asked for. */
export interface ModinfoSettings {
  /** -F / -a -d -l -p -n: print only this field. */
  field?: string;
  /** -0 */
  nul: boolean;
  /** -m: arguments are module names, never files or aliases. */
  modname: boolean;
  json: boolean;
  /** -b */
  root?: string;
  /** -k */
  release?: string;
}

/** Where the runner writes: stdout text, stderr text, --json items, and that something failed. */
export interface ModinfoOutput {
  out(s: string): void;
  err(s: string): void;
  item(value: unknown): void;
  fail(): void;
}

/** A module to print: a file (open already, when `fd` is given) or what a lookup found. */
type Target =
  | ResolvedModule
  | { kind: 'path'; path: string; fd?: number; size?: number; headLength?: number }
  | { kind: 'bytes'; path: string; bytes: Uint8Array }
  | { kind: 'xz-image'; path: string; image: Uint8Array };

const OPEN_FLAGS = constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY;

type Outcome = { ok: true; info: ModuleInfo } | { ok: false; name: string; filename: string; error: unknown };

/**
 * The command's state across arguments: the module directory (opened, with its lookup code loaded, on the
 * first argument that is not a module file — a run over files alone never reads it) and the working
 * directory's real path.
 */
export class ModinfoRunner {
  private lookup?: ModinfoLookup;
  private cwd?: string;
  /** Where compressed modules are decoded, one after another (nothing keeps a decoded image). */
  private image = Buffer.alloc(0);
  private readonly imageBuffer = (size: number): Uint8Array => (this.image = atLeast(this.image, size));
  /** Module files read with node:fs, one after another. */
  private readonly reader = new OpenModuleReader();

  private readonly fmt: FormatOptions;

  constructor(readonly settings: ModinfoSettings) {
    this.fmt = { nul: settings.nul };
    if (settings.field !== undefined) this.fmt.field = settings.field;
  }

  /**
   * Prints `args` to `out`. Asynchronous to load the lookup code on first need, and to wait for
   * `prefetch`, which reads the module files among `args` ahead on the thread pool.
   */
  async run(args: readonly string[], out: ModinfoOutput, prefetch?: ModulePrefetcher): Promise<void> {
    for (let k = 0; k < args.length; k++) {
      const arg = args[k]!;
      const got = prefetch ? await prefetch.take(k) : undefined;
      if (got !== undefined) {
        // What printIfModuleFile would find: a regular file named like a module, read as it would be.
        this.print(arg, { ...got, path: this.absolute(arg) }, out);
        continue;
      }
      if (!this.settings.modname && this.printIfModuleFile(arg, out)) continue;
      const lookup = this.lookup ?? (await this.openLookup());
      let r: Resolution;
      try {
        r = this.settings.modname ? lookup.byName(arg) : lookup.byAlias(arg);
      } catch (error) {
        // A name the lookup refuses (one holding NUL: no kmod can be given it) is that argument's error.
        if (!(error instanceof KernmodError)) throw error;
        out.fail();
        if (this.settings.json) out.item(errorItem(arg, error));
        else out.err(`modinfo: ERROR: ${error.message}\n`);
        continue;
      }
      if (r.ok) {
        for (const m of r.modules) this.print(arg, m, out);
        continue;
      }
      out.fail();
      if (this.settings.json)
        out.item(errorItem(arg, new KernmodError({ code: 'ERR_KERNMOD_NOT_FOUND', phase: 'validate', module: arg, message: r.message })));
      else out.err(`modinfo: ERROR: ${r.message}\n`);
    }
  }

  private async openLookup(): Promise<ModinfoLookup> {
    const { ModinfoLookup } = await import('./lookup.js');
    const { root, release } = this.settings;
    this.lookup ??= new ModinfoLookup({ ...(root !== undefined ? { root } : {}), ...(release !== undefined ? { release } : {}) });
    return this.lookup;
  }

  /**
   * kmod's is_module_filename — a regular file with a module extension — and, when it is one, prints
   * it. kmod stats the path and then opens it; this opens it and reads its head first, and asks the open
   * file only when it must: a short file whose bytes are a module's (ELF or compressed) was read whole and
   * is taken for a regular file without an fstat (nothing else holds a module's bytes); anything else is
   * fstat'ed, as kmod's stat would decide. On a slow file system (9p) that saves a stat and often an
   * fstat per module. O_NONBLOCK so that a FIFO named like a module cannot hang the open (it is then not
   * a regular file, and looked up as a name). Returns false when the argument is not a module file.
   */
  private printIfModuleFile(arg: string, out: ModinfoOutput): boolean {
    if (!MODULE_EXTENSIONS.some((ext) => arg.endsWith(ext))) return false;
    // -n prints the path without reading the file: kmod's stat alone decides.
    const pathOnly = this.settings.field === 'filename' && !this.settings.json;
    const fd = pathOnly ? undefined : tryOpen(arg);
    if (fd === undefined) {
      // Also when it cannot be opened: one that cannot be read (like an unreadable file) fails as such
      // when modinfoSync opens it again.
      try {
        if (!statSync(arg, { throwIfNoEntry: false })?.isFile()) return false;
      } catch {
        return false;
      }
      this.print(arg, { kind: 'path', path: this.absolute(arg) }, out);
      return true;
    }
    try {
      let head: { length: number; module: boolean } | undefined;
      try {
        head = this.reader.readHead(fd);
      } catch {
        head = undefined; // a directory (EISDIR), a FIFO (EAGAIN) ... or a read error fstat will explain
      }
      let size: number;
      if (head && head.length < HEAD_BYTES && head.module) size = head.length;
      else {
        const st = fstatSync(fd);
        if (!st.isFile()) return false;
        size = st.size;
      }
      this.print(arg, { kind: 'path', path: this.absolute(arg), fd, size, ...(head ? { headLength: head.length } : {}) }, out);
      return true;
    } finally {
      closeSync(fd);
    }
  }

  /** kmod's path_make_absolute_cwd: prefix the working directory, without normalising. */
  private absolute(path: string): string {
    if (path.startsWith('/')) return path;
    if (this.cwd === undefined) {
      this.cwd = process.cwd();
      try {
        this.cwd = realpathSync(this.cwd);
      } catch {
        /* keep it */
      }
    }
    return `${this.cwd}/${path}`;
  }

  private print(arg: string, t: Target, out: ModinfoOutput): void {
    // -n needs only the path: kmod prints it without reading the module.
    if (this.settings.field === 'filename' && !this.settings.json && t.kind !== 'builtin') {
      out.out(formatHeader('', t.path, false, this.fmt));
      return;
    }
    this.render(arg, this.load(t), out);
  }

  private render(arg: string, r: Outcome, out: ModinfoOutput): void {
    const { field, json } = this.settings;
    const fmt = this.fmt;
    if (r.ok) {
      if (json) out.item(modinfoJson(r.info));
      else {
        // kmod complains while merging parameters: in the full listing and for -F parm only.
        if (field === undefined || field === 'parm') out.err(invalidParmLines(r.info));
        out.out(formatModinfo(r.info, fmt));
      }
      return;
    }
    // kmod answers -F filename / -n before it reads the module, so an unreadable builtin still succeeds.
    if (field === 'filename' && !json) {
      out.out(formatHeader(r.name, r.filename, false, fmt));
      return;
    }
    out.fail();
    if (json) {
      out.item(errorItem(arg, r.error));
      return;
    }
    // kmod prints the name (builtins) and filename lines before it fails to read the module.
    out.out(formatHeader(r.name, r.filename, r.filename === '(builtin)', fmt));
    out.err(`modinfo: ERROR: could not get modinfo from '${r.name}': ${strerror(r.error)}\n`);
  }

  private load(t: Target): Outcome {
    if (t.kind === 'builtin') {
      try {
        const bytes = t.listed ? this.lookup!.builtinModinfo() : null;
        // An old kernel without modules.builtin.modinfo, or a module not known to be built in: kmod
        // prints just the name and filename.
        const fields = bytes ? (builtinModinfo(bytes, t.name) ?? []) : [];
        return { ok: true, info: builtinModuleInfo(t.name, fields) };
      } catch (error) {
        return { ok: false, name: t.name, filename: '(builtin)', error };
      }
    }
    const failed = (error: unknown): Outcome => ({ ok: false, name: moduleNameFromPath(t.path), filename: t.path, error });
    // kmod maps a plain module file, and mmap refuses an empty one with EINVAL (before any ELF check).
    if (t.kind === 'path' && t.size === 0) return failed(systemError(-LINUX_ERRNO.EINVAL, 'read', { path: t.path }));
    const opts = { lenient: true, versions: this.settings.json, buildId: this.settings.json };
    try {
      const info =
        t.kind === 'xz-image'
          ? decodedXz(t.image, t.path, opts)
          : t.kind === 'bytes'
            ? decodeModuleSync(t.bytes, t.path, opts, this.imageBuffer)
            : t.kind === 'path' && t.fd !== undefined
              ? this.reader.modinfo(t.fd, t.size!, t.path, opts, t.headLength, this.imageBuffer)
              : modinfoSync(t.path, opts);
      return { ok: true, info };
    } catch (error) {
      return failed(error);
    }
  }
}

/** `buf` when it holds `size` bytes, else a larger one (at least double: a run grows it a few times). */
function atLeast(buf: Buffer<ArrayBuffer>, size: number): Buffer<ArrayBuffer> {
  return buf.length >= size ? buf : Buffer.allocUnsafe(Math.max(size, 2 * buf.length));
}

/**
 * A failed argument in --json: every command's error shape (output.ts errorJson) plus the argument.
 * kmod's modinfo goes on after a failed argument, so one output holds both kinds of entry.
 */
function errorItem(argument: string, error: unknown): { ok: false; argument: string; error: Record<string, unknown> } {
  return { ok: false, argument, error: errorJson(error).error };
}

function tryOpen(path: string): number | undefined {
  try {
    return openSync(path, OPEN_FLAGS);
  } catch {
    return undefined;
  }
}

/** The modinfo of a .ko.xz the prefetcher decoded. */
function decodedXz(image: Uint8Array, path: string, opts: ModinfoOptions): ModuleInfo {
  try {
    return modinfoFromImage(image, { ...opts, filename: path, compression: 'xz' });
  } catch (e) {
    return withPath(e, path);
  }
}

function strerror(e: unknown): string {
  if (e instanceof KernmodError && e.errno !== undefined) return errnoInfo(e.errno).description;
  return e instanceof Error ? e.message : String(e);
}
