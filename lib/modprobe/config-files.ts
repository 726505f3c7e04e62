// Which modprobe.d files apply, in which order, as kmod decides (libkmod-config.c kmod_config_new):
//  - every `*.conf` file (not dot-files, not directories) of each config path, and config paths that
//    are files themselves (`-C FILE`);
//  - all of them sorted by file NAME across directories (strcmp), the first path holding a name
//    winning (so /etc/modprobe.d/x.conf hides /lib/modprobe.d/x.conf);
//  - the module directory's modules.softdep and modules.weakdep take part in that sort under their own
//    names, ahead of any config file of the same name;
//  - then the kernel command line.
// Unreadable paths are skipped silently, as kmod does.
// fs.promises is a getter: node:fs/promises loads only when the async reader runs (start-up: the CLI reads sync).
import { promises as fsp, readdirSync, statSync } from 'node:fs';
import { readRegularFile, readRegularFileSync, readSmallFile, readSmallFileSync } from '../fs-read.js';
import { basename, join } from 'node:path';
import { emptyConfig, parseKernelCmdline, parseModprobeConf, type ModprobeConfig } from './config.js';

/** kmod's default search path, highest precedence first. */
const DEFAULT_CONFIG_PATHS: readonly string[] = ['/etc/modprobe.d', '/run/modprobe.d', '/usr/local/lib/modprobe.d', '/lib/modprobe.d'];
const DEFAULT_CMDLINE_PATH = '/proc/cmdline';

export interface ConfigSource {
  /** The name files are sorted and de-duplicated by. */
  name: string;
  path: string;
}

export interface LoadConfigOptions {
  /** Config paths (directories or files), replacing the defaults (`-C`). */
  paths?: readonly string[];
  /** The module directory, for its modules.softdep and modules.weakdep; omit to skip them. */
  moduleDir?: string;
  /** Kernel command line file, or false to ignore the command line. Default /proc/cmdline. */
  cmdline?: string | false;
}

const byteCompare = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

/** Inserts keeping name order; a name already present wins. */
function insertSorted(list: ConfigSource[], src: ConfigSource): void {
  let i = 0;
  while (i < list.length && byteCompare(list[i]!.name, src.name) < 0) i++;
  if (i === list.length || list[i]!.name !== src.name) list.splice(i, 0, src);
}

function wanted(name: string): boolean {
  return !name.startsWith('.') && name.length >= 6 && name.endsWith('.conf');
}

/** What one config path holds: its `*.conf` entries that are not directories, or null when it is a file. */
type Listing = { p: string; files: string[] | null } | undefined;

/** The files to parse, in order, from what each path holds (undefined: unreadable, skipped). */
function orderSources(listings: Listing[], moduleDir: string | undefined): ConfigSource[] {
  const list: ConfigSource[] = [];
  if (moduleDir !== undefined) {
    insertSorted(list, { name: 'modules.softdep', path: join(moduleDir, 'modules.softdep') });
    insertSorted(list, { name: 'modules.weakdep', path: join(moduleDir, 'modules.weakdep') });
  }
  for (const d of listings) {
    if (!d) continue;
    if (d.files === null) insertSorted(list, { name: basename(d.p), path: d.p });
    else for (const name of d.files) insertSorted(list, { name, path: join(d.p, name) });
  }
  return list;
}

/** Whether an entry is a directory; a dangling link is not: kmod lists it and then fails to open it. */
function isDirSync(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function listPathSync(p: string): Listing {
  try {
    if (!statSync(p).isDirectory()) return { p, files: null };
    return { p, files: readdirSync(p).filter((n) => wanted(n) && !isDirSync(join(p, n))) };
  } catch {
    return undefined;
  }
}

async function listPath(p: string): Promise<Listing> {
  try {
    if (!(await fsp.stat(p)).isDirectory()) return { p, files: null };
    const names = (await fsp.readdir(p)).filter(wanted);
    const dirs = await Promise.all(
      names.map((n) =>
        fsp.stat(join(p, n)).then(
          (st) => st.isDirectory(),
          () => false,
        ),
      ),
    );
    return { p, files: names.filter((_, i) => !dirs[i]) };
  } catch {
    return undefined;
  }
}

export function listConfigSourcesSync(paths: readonly string[] = DEFAULT_CONFIG_PATHS, moduleDir?: string): ConfigSource[] {
  return orderSources(paths.map(listPathSync), moduleDir);
}

// A configuration file is read only when it is a regular file (opened without blocking: a FIFO named
// *.conf must not hang a root tool; kmod skips such entries too); /proc/cmdline, which reports a size
// of 0, is read to its end. What cannot be read is left out, as before.
/** Far beyond any real modprobe.d file; a larger one is left out, not read. */
const CONFIG_FILE_MAX = 16 * 1024 * 1024;
/** The kernel command line is at most COMMAND_LINE_SIZE (2048 on x86, 4096 or less elsewhere). */
const CMDLINE_MAX = 65536;

function readOpt(path: string, small = false): string | undefined {
  try {
    return (small ? readSmallFileSync(path, CMDLINE_MAX) : readRegularFileSync(path, CONFIG_FILE_MAX)).toString('utf8');
  } catch {
    return undefined;
  }
}
async function readOptAsync(path: string, small = false): Promise<string | undefined> {
  try {
    return (await (small ? readSmallFile(path, CMDLINE_MAX) : readRegularFile(path, CONFIG_FILE_MAX))).toString('utf8');
  } catch {
    return undefined;
  }
}

function assemble(sources: ConfigSource[], texts: Array<string | undefined>, cmdline: string | undefined): ModprobeConfig {
  const config = emptyConfig();
  sources.forEach((src, i) => {
    const text = texts[i];
    if (text !== undefined) parseModprobeConf(text, src.path, config);
  });
  if (cmdline === undefined) return config;
  // kmod parses the kernel command line last: its options and blacklist come after the files'.
  const k = parseKernelCmdline(cmdline);
  config.options.push(...k.options);
  config.blacklist.push(...k.blacklist);
  config.diagnostics.push(...k.diagnostics);
  return config;
}

/** Reads and parses the whole configuration: modprobe.d files, modules.softdep/weakdep, kernel command line. */
export function loadConfigSync(opts: LoadConfigOptions = {}): ModprobeConfig {
  const sources = listConfigSourcesSync(opts.paths, opts.moduleDir);
  const cmdlinePath = opts.cmdline ?? DEFAULT_CMDLINE_PATH;
  return assemble(
    sources,
    sources.map((s) => readOpt(s.path)),
    cmdlinePath === false ? undefined : readOpt(cmdlinePath, true),
  );
}

export async function loadConfig(opts: LoadConfigOptions = {}): Promise<ModprobeConfig> {
  const sources = orderSources(await Promise.all((opts.paths ?? DEFAULT_CONFIG_PATHS).map(listPath)), opts.moduleDir);
  const cmdlinePath = opts.cmdline ?? DEFAULT_CMDLINE_PATH;
  const [texts, cmdline] = await Promise.all([
    Promise.all(sources.map((s) => readOptAsync(s.path))),
    cmdlinePath === false ? undefined : readOptAsync(cmdlinePath, true),
  ]);
  return assemble(sources, texts, cmdline);
}
