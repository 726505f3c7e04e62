// modprobe.d configuration and the kernel command line, parsed as kmod parses them
// (libkmod/libkmod-config.c, research b11). Pure: text in, data out; reading the files is config-files.ts.
//
// Grammar (one command per logical line; `\` + newline joins lines; `#` at the very start comments):
//   alias WILDCARD MODULE          options MODULE REST-OF-LINE      blacklist MODULE
//   install MODULE COMMAND...      remove MODULE COMMAND...
//   softdep MODULE [pre: A B...] [post: C D...]                     weakdep MODULE A B...
// Names get `-` -> `_` except inside `[...]`; a name with an unmatched bracket, or a missing field,
// makes a bad line, which is reported with its file and line number and skipped (kmod: "<file> line N:
// ignoring bad line starting with '<cmd>'").
import { normalizeAlias } from './normalize.js';

/** An `install` or `remove` line: the module is a name or an fnmatch pattern (kmod matches them with fnmatch). */
type ConfigCommand = { module: string; command: string };
interface ConfigSoftdep {
  /** fnmatch pattern: the first softdep line whose pattern matches a module applies to it. */
  module: string;
  pre: string[];
  post: string[];
  /** Every name after `pre:`/`post:` in line order, with its list (kept to print `-c` exactly as kmod does). */
  tokens: Array<{ name: string; list: 'pre' | 'post' }>;
}
export interface ConfigDiagnostic {
  file: string;
  /** 1-based; for a line continued with `\`, the number of its last physical line (as kmod reports). */
  line: number;
  message: string;
}

/** Everything modprobe.d (plus modules.softdep/weakdep and the kernel command line) says, in file order. */
export interface ModprobeConfig {
  /** The pattern is fnmatched against the (normalised) name being looked up. */
  aliases: Array<{ pattern: string; module: string }>;
  /** `options`: the rest of the line, tabs turned into spaces (kmod does that to options only). */
  options: Array<{ module: string; options: string }>;
  blacklist: string[];
  install: ConfigCommand[];
  remove: ConfigCommand[];
  softdeps: ConfigSoftdep[];
  weakdeps: Array<{ module: string; deps: string[] }>;
  /** The files read, in the order they were applied. */
  files: string[];
  diagnostics: ConfigDiagnostic[];
}

export function emptyConfig(): ModprobeConfig {
  return { aliases: [], options: [], blacklist: [], install: [], remove: [], softdeps: [], weakdeps: [], files: [], diagnostics: [] };
}

const isSpace = (c: string) => c === ' ' || c === '\t' || c === '\n' || c === '\v' || c === '\f' || c === '\r';

/**
 * kmod's freadline_wrapped(): splits text into logical lines. `\` + newline joins two physical lines
 * (both characters dropped); `\` before any other character is dropped and the character kept.
 */
export function logicalLines(text: string): Array<{ text: string; line: number }> {
  const out: Array<{ text: string; line: number }> = [];
  let cur = '';
  let physical = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '\n') {
      physical++;
      out.push({ text: cur, line: physical });
      cur = '';
    } else if (c !== '\\') cur += c;
    else {
      i++; // the character after `\` is kept, unless it is a newline
      if (text[i] === '\n') physical++;
      else if (i < text.length) cur += text[i];
    }
  }
  if (cur !== '') out.push({ text: cur, line: physical + 1 });
  return out;
}

/**
 * A strtok_r(" \t") cursor: `word()` skips separators and takes a word; `name()` is that word normalised
 * (undefined for an unmatched bracket too); `rest()` is strtok_r("\0"): everything after the one
 * separator that ended the previous word (leading blanks kept), or undefined when nothing is left.
 */
class Tokens {
  private pos = 0;
  constructor(private readonly s: string) {}
  word(): string | undefined {
    let p = this.pos;
    while (p < this.s.length && (this.s[p] === ' ' || this.s[p] === '\t')) p++;
    if (p >= this.s.length) {
      this.pos = p;
      return undefined;
    }
    let e = p;
    while (e < this.s.length && this.s[e] !== ' ' && this.s[e] !== '\t') e++;
    this.pos = e < this.s.length ? e + 1 : e;
    return this.s.slice(p, e);
  }
  name(): string | undefined {
    const w = this.word();
    return w === undefined ? undefined : normalizeAlias(w);
  }
  rest(): string | undefined {
    const r = this.s.slice(this.pos);
    this.pos = this.s.length;
    return r === '' ? undefined : r;
  }
}

/** isspace() in the C locale: what softdep and weakdep lists are split on. */
const SPACES = /[ \t\n\v\f\r]+/;

/** Splits a softdep's list on isspace() and sorts names into pre/post (names before any marker are ignored). */
function parseSoftdepList(module: string, list: string): ConfigSoftdep {
  const dep: ConfigSoftdep = { module, pre: [], post: [], tokens: [] };
  let mode: 'pre' | 'post' | undefined;
  for (const word of list.split(SPACES)) {
    if (word === 'pre:' || word === 'post:') mode = word === 'pre:' ? 'pre' : 'post';
    else if (word !== '' && mode !== undefined) {
      dep[mode].push(word);
      dep.tokens.push({ name: word, list: mode });
    }
  }
  return dep;
}

/**
 * Parses one modprobe.d file (or modules.softdep / modules.weakdep) into `into`, in place, so several
 * files accumulate in order. Bad lines become diagnostics. `file` names the file in diagnostics.
 */
export function parseModprobeConf(text: string, file: string, into: ModprobeConfig = emptyConfig()): ModprobeConfig {
  into.files.push(file);
  for (const { text: line, line: lineno } of logicalLines(text)) {
    if (line === '' || line[0] === '#') continue;
    const t = new Tokens(line);
    const cmd = t.word();
    if (cmd === undefined) continue;
    const bad = () => into.diagnostics.push({ file, line: lineno, message: `ignoring bad line starting with '${cmd}'` });
    switch (cmd) {
      case 'alias': {
        const pattern = t.name();
        const module = t.name();
        if (pattern === undefined || module === undefined) bad();
        else into.aliases.push({ pattern, module });
        break;
      }
      case 'blacklist': {
        const module = t.name();
        if (module === undefined) bad();
        else into.blacklist.push(module);
        break;
      }
      case 'options':
      case 'install':
      case 'remove':
      case 'softdep':
      case 'weakdep': {
        const module = t.name();
        const rest = t.rest();
        if (module === undefined || rest === undefined) {
          bad();
          break;
        }
        if (cmd === 'options') into.options.push({ module, options: rest.replaceAll('\t', ' ') });
        else if (cmd === 'install') into.install.push({ module, command: rest });
        else if (cmd === 'remove') into.remove.push({ module, command: rest });
        else if (cmd === 'softdep') into.softdeps.push(parseSoftdepList(module, rest));
        else into.weakdeps.push({ module, deps: rest.split(SPACES).filter((w) => w !== '') });
        break;
      }
      case 'include':
      case 'config':
        into.diagnostics.push({ file, line: lineno, message: `command ${cmd} is deprecated and not parsed anymore` });
        break;
      default:
        bad();
    }
  }
  return into;
}

/**
 * What the kernel command line adds: `mod.param[=value]` tokens as options for `mod` (name normalised),
 * `modprobe.blacklist=a,b` names as written (kmod does not normalise these).
 */
type KernelCmdlineConfig = Pick<ModprobeConfig, 'options' | 'blacklist' | 'diagnostics'>;

/**
 * The kernel command line (/proc/cmdline), parsed with kmod's state machine (kmod_config_parse_kcmdline):
 * `mod.param=value` gives options `param=value` to `mod`; `modprobe.blacklist=a,b` blacklists; spaces
 * only inside a quoted value; a quote before the module name (how GRUB passes
 * `"mod.p=a b"`) is moved to the value (`p="a b"`); anything else ill-formed is ignored.
 */
export function parseKernelCmdline(text: string): KernelCmdlineConfig {
  const out: KernelCmdlineConfig = { options: [], blacklist: [], diagnostics: [] };
  const buf = [...text];
  type State = 'ignore' | 'modname' | 'param' | 'value' | 'complete';
  let state: State = 'modname';
  let quoted = false;
  let quoteStart = -1;
  let modname = 0;
  let param = -1;
  let value = -1;
  const str = (from: number, to: number) => buf.slice(from, to).join('');
  for (let p = 0; p <= buf.length; p++) {
    const c = p < buf.length ? buf[p]! : '\0';
    if (c === '"') {
      quoted = !quoted;
      // A quote is allowed first thing in the module name; anywhere else outside the value it makes
      // the whole token ill-formed.
      if (quoted && state === 'modname' && p === modname) {
        quoteStart = p;
        modname = p + 1;
      } else if (state !== 'value') state = 'ignore';
    } else if (c === '\0' || isSpace(c)) {
      if (quoted && state === 'value') {
        /* a space inside a quoted value */
      } else if (quoted) state = 'ignore';
      else if (state === 'value' || state === 'param') state = 'complete';
      else {
        modname = p + 1;
        state = 'modname';
        quoteStart = -1;
      }
    } else if (c === '.') {
      if (state === 'modname') {
        param = p + 1;
        state = 'param';
      } else if (state === 'param') state = 'ignore';
    } else if (c === '=') {
      if (state === 'param') {
        value = p + 1;
        state = 'value';
      } else if (state === 'modname') state = 'ignore';
    }
    if (state === 'complete') {
      const mod = str(modname, param - 1);
      let opt = str(param, p);
      // Re-quote what the boot loader mangled: `"parport.dyndbg=file x +p"` -> dyndbg="file x +p".
      if (quoteStart !== -1 && quoteStart < modname && value !== -1) {
        opt = `${str(param, value)}"${str(value, p)}`;
      }
      if (mod === 'modprobe' && opt.startsWith('blacklist=')) {
        out.blacklist.push(...opt.slice('blacklist='.length).split(','));
      } else {
        const norm = normalizeAlias(mod);
        if (norm === undefined) {
          out.diagnostics.push({
            file: '/proc/cmdline',
            line: 1,
            message: `Ignoring bad option on kernel command line while parsing module name: '${mod}'`,
          });
        } else out.options.push({ module: norm, options: opt });
      }
      modname = p + 1;
      state = 'modname';
      quoteStart = -1;
      param = -1;
      value = -1;
    }
    if (c === '\0') break;
  }
  return out;
}

/**
 * `modprobe -c`'s value for a softdep line. kmod prints the span of names from the first pre to the
 * last pre, then `post: ` and the post span, with no space between (a kmod quirk kept for
 * byte-identical output: `pre: a bpost: c`).
 */
export function softdepToString(dep: ConfigSoftdep): string {
  const span = (list: 'pre' | 'post') => {
    const first = dep.tokens.findIndex((t) => t.list === list);
    const last = dep.tokens.findLastIndex((t) => t.list === list);
    return dep.tokens
      .slice(first, last + 1)
      .map((t) => t.name)
      .join(' ');
  };
  let s = '';
  if (dep.pre.length) s += `pre: ${span('pre')}`;
  if (dep.post.length) s += `post: ${span('post')}`;
  return s;
}
