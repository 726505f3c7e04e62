// depmod.d, as kmod 30's depmod reads it (tools/depmod.c cfg_load / cfg_file_parse):
//   search DIR... | built-in | external   where to look first (earlier lines and words win)
//   override MODULE KVER-REGEX SUBDIR      this module's copy in SUBDIR wins over every other
//   external KVER-REGEX DIR               an absolute directory searched besides the tree
//   exclude DIR...                         directory names never entered
// Files: every *.conf of each directory (or a file named directly), the first of each basename wins,
// parsed in basename order. Without any `search`, kmod searches "updates" first.
import { readdirSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import { readRegularFileSync } from '../fs-read.js';
import type { DepmodMessage } from './depmod.js';

const DEFAULT_CONFIG_PATHS = ['/etc/depmod.d', '/run/depmod.d', '/usr/local/lib/depmod.d', '/lib/depmod.d'] as const;

/** Far beyond any real depmod.d file (a few hundred bytes); a larger one is refused, not read. */
const CONFIG_FILE_MAX = 16 * 1024 * 1024;

type Search = { type: 'path'; path: string } | { type: 'built-in' } | { type: 'external' };

export interface DepmodConfig {
  /** Highest priority LAST, as kmod's list is built (each line is pushed on the front of the list). */
  searches: Search[];
  /** "SUBDIR/MODULE" (no extension), most recently read first. */
  overrides: string[];
  /** Absolute directories, most recently read first. */
  externals: string[];
  excludes: Set<string>;
}

/** kmod's cfg_kernel_matches: "*" or a POSIX extended regex searched in the kernel version. */
function kernelMatches(kversion: string, pattern: string): boolean {
  if (pattern === '*') return true;
  try {
    return new RegExp(pattern).test(kversion);
  } catch {
    return false;
  }
}

/** The config files to parse, sorted by basename, the first path giving a basename winning. */
function listConfigFiles(paths: readonly string[], log: DepmodMessage[]): string[] {
  const byName = new Map<string, string>();
  for (const dir of paths) {
    let isDir: boolean;
    try {
      isDir = statSync(dir).isDirectory();
    } catch {
      continue;
    }
    if (!isDir) {
      if (!byName.has(basename(dir))) byName.set(basename(dir), dir);
      continue;
    }
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch (e) {
      log.push({ level: 'ERROR', text: `files list ${dir}: ${(e as Error).message}\n` });
      continue;
    }
    for (const name of names) {
      if (name.startsWith('.')) continue;
      if (name.length < 6 || !name.endsWith('.conf')) {
        log.push({ level: 'INFO', text: `All cfg files need .conf: ${dir}/${name}\n` });
        continue;
      }
      let sub = false;
      try {
        sub = statSync(`${dir}/${name}`).isDirectory();
      } catch {
        /* kmod ignores a failed stat here */
      }
      if (sub) {
        log.push({ level: 'ERROR', text: `Directories inside directories are not supported: ${dir}/${name}\n` });
        continue;
      }
      if (!byName.has(name)) byName.set(name, `${dir}/${name}`);
    }
  }
  return [...byName.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)).map((n) => byName.get(n)!);
}

/**
 * kmod's freadline_wrapped: lines with the number of the last physical line each ends on; a backslash
 * before a newline joins the next line, before anything else it is dropped and the character kept.
 */
function* wrappedLines(text: string): Generator<[string, number]> {
  let line = '';
  let linenum = 0;
  let started = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (ch === '\\' && i + 1 < text.length) {
      i++;
      started = true;
      if (text[i] === '\n') linenum++;
      else line += text[i];
      continue;
    }
    if (ch === '\n') {
      linenum++;
      yield [line, linenum];
      line = '';
      started = false;
      continue;
    }
    line += ch;
    started = true;
  }
  if (started) yield [line, linenum + 1];
}

/** Parses one depmod.d file's text into `cfg`. */
function parseConfigText(cfg: DepmodConfig, text: string, filename: string, kversion: string, log: DepmodMessage[]): void {
  for (const [line, linenum] of wrappedLines(text)) {
    if (line === '' || line.startsWith('#')) continue;
    const words = line.split(/[\t ]+/).filter((w) => w !== '');
    const cmd = words[0];
    if (cmd === undefined) continue;
    const args = words.slice(1);
    const bad = () => log.push({ level: 'ERROR', text: `${filename}:${linenum}: ignoring bad line starting with '${cmd}'\n` });
    switch (cmd) {
      case 'search':
        for (const p of args) {
          const s: Search = p === 'built-in' ? { type: 'built-in' } : p === 'external' ? { type: 'external' } : { type: 'path', path: p };
          cfg.searches.unshift(s);
        }
        break;
      case 'override': {
        const [modname, version, subdir] = args;
        if (modname === undefined || version === undefined || subdir === undefined) {
          bad();
          break;
        }
        if (!kernelMatches(kversion, version)) {
          log.push({ level: 'INFO', text: `${filename}:${linenum}: override kernel did not match ${version}\n` });
          break;
        }
        cfg.overrides.unshift(`${subdir}/${modname}`);
        break;
      }
      case 'external': {
        const [version, dir] = args;
        if (version === undefined || dir === undefined) {
          bad();
          break;
        }
        if (!kernelMatches(kversion, version)) {
          log.push({ level: 'INFO', text: `${filename}:${linenum}: external directory did not match ${version}\n` });
          break;
        }
        cfg.externals.unshift(dir);
        break;
      }
      case 'exclude':
        for (const p of args) cfg.excludes.add(p);
        break;
      case 'include':
      case 'make_map_files':
        log.push({ level: 'INFO', text: `${filename}:${linenum}: command ${cmd} not implemented yet\n` });
        break;
      default:
        bad();
    }
  }
}

/** cfg_load: every file of `paths` (default: the four depmod.d directories), then the "updates" default. */
export function loadConfig(paths: readonly string[] | undefined, kversion: string, log: DepmodMessage[]): DepmodConfig {
  const cfg: DepmodConfig = { searches: [], overrides: [], externals: [], excludes: new Set() };
  for (const file of listConfigFiles(paths ?? DEFAULT_CONFIG_PATHS, log)) {
    let text: string;
    try {
      // Opened without blocking and read only when regular: a FIFO named *.conf must not hang depmod.
      text = readRegularFileSync(file, CONFIG_FILE_MAX).toString('latin1');
    } catch (e) {
      log.push({ level: 'ERROR', text: `file parse ${file}: ${(e as Error).message}\n` });
      continue;
    }
    parseConfigText(cfg, text, file, kversion, log);
  }
  if (cfg.searches.length === 0) cfg.searches.push({ type: 'path', path: 'updates' });
  return cfg;
}
