// modinfo as a library: what kmod's modinfo shows, as a typed object, from a module file (plain or
// gzip/xz/zstd-compressed, told by magic bytes) or its bytes. Pure over bytes once read; the async form
// reads the file and decompresses off the main thread where the decoder allows (gzip, xz).
import {
  decompress,
  decompressSync,
  detectCompression,
  maxBytesOf,
  type CompressionFormat,
  type DecompressSyncOptions,
} from '../compress/index.js';
import { causeError, invalidInput, KernmodError, systemError } from '../errors.js';
import { sourcePath } from '../source.js';
import { moduleNameFromPath } from '../names.js';
import { EM_NAMES, elfError, findSection, parseElfSections, sectionBytes, type ElfFile } from './elf.js';
import { readBuildId } from './notes.js';
import { MODINFO_SECTIONS, readModuleImage, readModuleImageSync } from './read.js';
import { mergeParams, type ModuleParam } from './params.js';
import { readSignature, type ModuleSignature } from './signature.js';
import { parseModinfoStrings, type ModinfoField } from './strings.js';
import { readThisModuleName } from './this-module.js';
import { readModuleVersions, type ModuleVersion } from './versions.js';
import { LINUX_ERRNO } from '../errno.js';

export interface ModinfoOptions {
  /**
   * Cap on the size of a module file and on the decompressed size of a compressed one
   * (ERR_KERNMOD_TOO_LARGE past it). Default 256 MiB.
   */
  maxBytes?: number;
  /**
   * What to do with damage outside `.modinfo` that kmod's modinfo silently ignores — an unusable
   * signature trailer, a malformed `__versions` or build-id note: false (default) throws the typed
   * error; true drops that part and records why in `warnings`.
   */
  lenient?: boolean;
  /** Decode symbol versions (`versions`); false leaves them empty, for callers that do not show them. */
  versions?: boolean;
  /** Decode the GNU build ID (`buildId`); false leaves it out, for callers that do not show it. */
  buildId?: boolean;
  /**
   * modinfo() only: read the file with synchronous calls (decompression stays off the main thread).
   * A few small reads per file are cheaper done directly than through the thread pool, which matters
   * over thousands of files (the CLI), at the price of blocking the event loop for those reads.
   */
  syncRead?: boolean;
}

export interface ModuleInfo {
  /** The path, for modules read from a file (as given; the CLI makes it absolute like kmod). */
  filename?: string;
  /** The kernel's name for it: `.modinfo name=`, else struct module's name, else the file's basename. */
  name: string;
  /** Built into the kernel image (from modules.builtin.modinfo): no file, no ELF. */
  builtin: boolean;
  /** `.modinfo` strings in file order, repeated keys kept. */
  fields: ModinfoField[];
  /** Parameters merged from parm/parmtype, in kmod's order (reverse first appearance). */
  params: ModuleParam[];
  vermagic?: string;
  /** `depends=` split at commas; [] when empty. */
  depends: string[];
  /** Symbol versions the module expects (__version_ext_* when present, else __versions). */
  versions: ModuleVersion[];
  /** GNU build ID, lowercase hex. */
  buildId?: string;
  signature?: ModuleSignature;
  /** How the file was compressed, or null. */
  compression: CompressionFormat | null;
  /** ELF facts; absent for builtins. */
  elf?: { class: 32 | 64; endian: 'little' | 'big'; machine: string };
  /** Problems skipped in lenient mode. */
  warnings: string[];
}

export type ModinfoSource = string | URL | Uint8Array;

function first(fields: readonly ModinfoField[], key: string): string | undefined {
  return fields.find((f) => f.key === key)?.value;
}

function splitDepends(v: string | undefined): string[] {
  return v ? v.split(',').filter((d) => d !== '') : [];
}

/** The parts of a ModuleInfo read off its .modinfo strings, the same for a file and a builtin. */
function fromFields(fields: ModinfoField[]): Pick<ModuleInfo, 'fields' | 'params' | 'vermagic' | 'depends'> {
  return {
    fields,
    params: mergeParams(fields).params,
    vermagic: first(fields, 'vermagic'),
    depends: splitDepends(first(fields, 'depends')),
  };
}

/** Runs `part`; when lenient, a KernmodError becomes a warning and the part is left out. */
function optional<T>(lenient: boolean, warnings: string[], part: () => T): T | undefined {
  if (!lenient) return part();
  try {
    return part();
  } catch (e) {
    if (!(e instanceof KernmodError)) throw e;
    warnings.push(e.message);
    return undefined;
  }
}

/** The modinfo of a builtin module from its modules.builtin.modinfo fields. */
export function builtinModuleInfo(name: string, fields: ModinfoField[]): ModuleInfo {
  return {
    name,
    builtin: true,
    ...fromFields(fields),
    versions: [],
    compression: null,
    warnings: [],
  };
}

/** modinfo over the (decompressed) module image. */
export function modinfoFromImage(
  image: Uint8Array,
  opts: ModinfoOptions & { filename?: string; compression?: CompressionFormat | null } = {},
): ModuleInfo {
  return modinfoFromElf(parseElfSections(image, MODINFO_SECTIONS), opts);
}

/** modinfoFromImage over an image already parsed (as a sparse read parses it). */
export function modinfoFromElf(
  elf: ElfFile,
  opts: ModinfoOptions & { filename?: string; compression?: CompressionFormat | null },
): ModuleInfo {
  const image = elf.bytes;
  const lenient = opts.lenient ?? false;
  const warnings: string[] = [];
  const section = findSection(elf, '.modinfo');
  if (!section) {
    const bad = elf.sections.find((s) => s.name === '.modinfo');
    // errno as kmod 30 reports it: ENOENT for a missing section (newer kmod says ENODATA).
    throw elfError(
      bad ? `.modinfo (offset ${bad.offset}, size ${bad.size}) runs past the end of the file` : 'no .modinfo section',
      bad ? -LINUX_ERRNO.EINVAL : -LINUX_ERRNO.ENOENT,
    );
  }
  const fields = parseModinfoStrings(sectionBytes(elf, section));
  const name =
    first(fields, 'name') || readThisModuleName(elf) || (opts.filename === undefined ? undefined : moduleNameFromPath(opts.filename));
  if (!name) throw elfError('no module name: neither .modinfo name= nor .gnu.linkonce.this_module holds one');
  const info: ModuleInfo = {
    name,
    builtin: false,
    ...fromFields(fields),
    versions: opts.versions === false ? [] : (optional(lenient, warnings, () => readModuleVersions(elf)) ?? []),
    compression: opts.compression ?? null,
    elf: { class: elf.class, endian: elf.endian, machine: EM_NAMES[elf.machine] ?? String(elf.machine) },
    warnings,
  };
  if (opts.filename !== undefined) info.filename = opts.filename;
  const buildId = opts.buildId === false ? undefined : optional(lenient, warnings, () => readBuildId(elf));
  if (buildId !== undefined) info.buildId = buildId;
  const signature = optional(lenient, warnings, () => readSignature(image));
  if (signature !== undefined) info.signature = signature;
  if (info.vermagic === undefined) delete info.vermagic;
  return info;
}

/** The file a source names (undefined for bytes) and the size cap, both checked. */
function sourceOf(source: unknown, opts: ModinfoOptions): { path: string | undefined; max: number } {
  if (typeof source !== 'string' && !(source instanceof URL) && !(source instanceof Uint8Array)) {
    throw invalidInput(
      'ERR_KERNMOD_INVALID_SOURCE',
      `modinfo expects a path, a file: URL or a Uint8Array, got ${source === null ? 'null' : typeof source}`,
    );
  }
  const max = maxBytesOf(opts);
  return { path: source instanceof Uint8Array ? undefined : sourcePath(source), max };
}

/** A read of module file `path` failed: the typed error to throw. */
export function readError(e: unknown, path: string): KernmodError {
  if (e instanceof KernmodError) return e;
  const errno = (e as NodeJS.ErrnoException).errno;
  if (typeof errno === 'number') return systemError(errno < 0 ? errno : -errno, 'read', { path });
  return causeError(e, 'open', { path }); // not an errno: typed, with the real cause
}

/** Rethrows a decoding error typed and naming the file `path`. */
export function withPath(e: unknown, path: string | undefined): never {
  if (!(e instanceof KernmodError)) throw causeError(e, 'open', path === undefined ? {} : { path });
  if (path !== undefined && e.path === undefined) {
    (e as { path?: string }).path = path;
  }
  throw e;
}

/** modinfo of a module file or image; compressed input (gzip/xz/zstd) is decompressed first. */
export async function modinfo(source: ModinfoSource, opts: ModinfoOptions = {}): Promise<ModuleInfo> {
  const { path, max } = sourceOf(source, opts);
  let bytes = source as Uint8Array;
  try {
    if (path !== undefined) bytes = opts.syncRead ? readModuleImageSync(path, max) : await readModuleImage(path, max);
  } catch (e) {
    throw readError(e, path!);
  }
  try {
    const compression = detectCompression(bytes);
    const image = compression ? await decompress(bytes, { maxBytes: opts.maxBytes }) : bytes;
    return modinfoFromImage(image, { ...opts, filename: path, compression });
  } catch (e) {
    return withPath(e, path);
  }
}

/** modinfo, blocking the calling thread (decompression included). */
export function modinfoSync(source: ModinfoSource, opts: ModinfoOptions = {}): ModuleInfo {
  const { path, max } = sourceOf(source, opts);
  let bytes = source as Uint8Array;
  try {
    if (path !== undefined) bytes = readModuleImageSync(path, max);
  } catch (e) {
    throw readError(e, path!);
  }
  return decodeModuleSync(bytes, path, opts);
}

/**
 * The modinfo of a module file's bytes (`path` names it in the result and in errors): decompressed
 * first when they are compressed, into `into` when given (decompressSync's). modinfoSync's last step,
 * shared with the CLI, which reads its files its own way.
 */
export function decodeModuleSync(
  bytes: Uint8Array,
  path: string | undefined,
  opts: ModinfoOptions,
  into?: DecompressSyncOptions['into'],
): ModuleInfo {
  try {
    const compression = detectCompression(bytes);
    const image = compression ? decompressSync(bytes, { maxBytes: opts.maxBytes, into }) : bytes;
    return modinfoFromImage(image, { ...opts, filename: path, compression });
  } catch (e) {
    return withPath(e, path);
  }
}
