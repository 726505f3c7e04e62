// `kernmod modinfo [-F field] [-0] [-k KVER] [-b BASEDIR] [-a -d -l -p -n -m] [--json] MODULE|FILE...`
// Text output is byte-identical to kmod 30's modinfo (tools/modinfo.c modinfo_do): `filename:` first
// (after `name:` for a builtin), then the module's strings with the value at column 16 — printf
// `%s:%-*s%s` with width 15 - strlen(key), whose sign flips to padding for keys past 15 characters —
// then the signature fields, then the merged parameters in kmod's reverse order. `--json` prints the
// library's object instead (build-id included: kmod 30 has no build-id line, kmod master does).
import { realpathSync, statSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { errnoInfo } from '../errno.js';
import { KernmodError } from '../errors.js';
import { builtinModinfo } from '../elf/builtin.js';
import { builtinModuleInfo, modinfo, type ModuleInfo } from '../elf/modinfo.js';
import { moduleNameFromPath, MODULE_EXTENSIONS } from '../names.js';
import { ModinfoLookup, type ResolvedModule } from './modinfo-lookup.js';
import type { Io } from './output.js';

export const MODINFO_USAGE = `Usage:
\tkernmod modinfo [options] <modulename|filename> [args]
Options:
\t-a, --author                Print only 'author'
\t-d, --description           Print only 'description'
\t-l, --license               Print only 'license'
\t-p, --parameters            Print only 'parm'
\t-n, --filename              Print only 'filename'
\t-0, --null                  Use \\0 instead of \\n
\t-m, --modname               Handle argument as module name instead of alias or filename
\t-F, --field=FIELD           Print only provided FIELD
\t-k, --set-version=VERSION   Use VERSION instead of \`uname -r\`
\t-b, --basedir=DIR           Use DIR as filesystem root for /lib/modules
\t    --json                  Print each module as a JSON object (an array for several)
\t-V, --version               Show version
\t-h, --help                  Show this help
`;

/** How many modules are read and decoded at once (decoding runs on the libuv thread pool). */
const CONCURRENCY = 8;

export interface KmodEntry {
  key: string;
  value: string;
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).toUpperCase().padStart(2, '0'));

/** kmod's hex layout: uppercase, ':'-separated, a line break and two tabs after every 20 bytes. */
export function kmodHex(bytes: Uint8Array, wrap = true): string {
  let s = '';
  for (let i = 0; i < bytes.length; i++) {
    s += HEX[bytes[i]!]!;
    if (i < bytes.length - 1) {
      s += ':';
      if (wrap && (i + 1) % 20 === 0) s += '\n\t\t';
    }
  }
  return s;
}

/** The key/value list kmod's kmod_module_get_info returns: .modinfo strings, then the signature's. */
export function kmodInfoList(info: ModuleInfo): KmodEntry[] {
  const list: KmodEntry[] = info.fields.slice();
  const sig = info.signature;
  if (sig) {
    list.push(
      { key: 'sig_id', value: sig.id },
      { key: 'signer', value: sig.signer },
      { key: 'sig_key', value: kmodHex(sig.keyId) },
      { key: 'sig_hashalgo', value: sig.hashAlgo },
      { key: 'signature', value: kmodHex(sig.signature) },
    );
  }
  return list;
}

export interface FormatOptions {
  /** -F: print only this field's values. */
  field?: string;
  /** -0: NUL instead of newline. */
  nul?: boolean;
}

function padKey(key: string): string {
  // printf("%s:%-*s", key, 15 - len, ""): a negative width means left-justify with |width|.
  return `${key}:${' '.repeat(Math.abs(15 - Buffer.byteLength(key)))}`;
}

const col16 = (label: string) => label.padEnd(16, ' ');

/** One module's output, exactly as kmod 30's modinfo_do prints it. */
export function formatModinfo(info: ModuleInfo, opts: FormatOptions = {}): string {
  const sep = opts.nul ? '\0' : '\n';
  const field = opts.field;
  let out = '';
  const filename = info.builtin ? '(builtin)' : info.filename ?? '';
  if (info.builtin) {
    if (field === undefined) out += `${col16('name:')}${info.name}${sep}`;
    else if (field === 'name') out += `${info.name}${sep}`;
  }
  if (field === 'filename') return out + `${filename}${sep}`;
  if (field === undefined) out += `${col16('filename:')}${filename}${sep}`;

  const list = kmodInfoList(info);
  if (field === 'parm') {
    for (const p of info.params) {
      if (p.description === undefined) out += `${p.name}: (${p.type ?? ''})${sep}`;
      else if (p.type !== undefined) out += `${p.name}:${p.description} (${p.type})${sep}`;
      else out += `${p.name}:${p.description}${sep}`;
    }
    return out;
  }
  for (const { key, value } of list) {
    if (field !== undefined) {
      if (key === field) out += `${value}${sep}`;
      continue;
    }
    if (key === 'parm' || key === 'parmtype') continue;
    out += opts.nul ? `${key}=${value}${sep}` : `${padKey(key)}${value}${sep}`;
  }
  if (field !== undefined) return out;
  for (const p of info.params) {
    if (p.description === undefined) out += `${col16('parm:')}${p.name}:${p.type ?? ''}${sep}`;
    else if (p.type !== undefined) out += `${col16('parm:')}${p.name}:${p.description} (${p.type})${sep}`;
    else out += `${col16('parm:')}${p.name}:${p.description}${sep}`;
  }
  return out;
}

/** kmod's "Found invalid ..." lines for parm strings without ':' (printed while formatting). */
function invalidParmLines(info: ModuleInfo): string {
  let s = '';
  for (const f of info.fields) {
    if ((f.key === 'parm' || f.key === 'parmtype') && !f.value.includes(':')) s += `modinfo: ERROR: Found invalid "${f.key}=${f.value}": missing ':'\n`;
  }
  return s;
}

/** A module as JSON: bytes as kmod-style hex (one line), bigints as decimal strings. */
export function modinfoJson(info: ModuleInfo): Record<string, unknown> {
  const o: Record<string, unknown> = { ...info };
  if (info.signature) {
    o.signature = { ...info.signature, keyId: kmodHex(info.signature.keyId, false), signature: kmodHex(info.signature.signature, false) };
  }
  o.versions = info.versions.map((v) => ({ crc: typeof v.crc === 'bigint' ? v.crc.toString() : v.crc, symbol: v.symbol }));
  return o;
}

/** kmod's is_module_filename: a regular file whose name ends in a module extension. */
function isModuleFilename(arg: string): boolean {
  if (!MODULE_EXTENSIONS.some((ext) => arg.endsWith(ext))) return false;
  try {
    return statSync(arg).isFile();
  } catch {
    return false;
  }
}

/** kmod's path_make_absolute_cwd: prefix the working directory, without normalising. */
function absolute(path: string): string {
  if (path.startsWith('/')) return path;
  let cwd = process.cwd();
  try {
    cwd = realpathSync(cwd);
  } catch {
    /* keep it */
  }
  return `${cwd}/${path}`;
}

type Job = { arg: string } & ({ kind: 'path'; path: string } | { kind: 'resolved'; modules: ResolvedModule[] } | { kind: 'notfound'; code: string; message: string });

type Outcome = { ok: true; info: ModuleInfo } | { ok: false; name: string; filename: string; error: unknown };

async function load(m: ResolvedModule | { kind: 'path'; path: string }, lookup: ModinfoLookup, json: boolean): Promise<Outcome> {
  if (m.kind === 'builtin') {
    try {
      const bytes = m.listed ? lookup.builtinModinfo() : null;
      // An old kernel without modules.builtin.modinfo, or a module not known to be built in: kmod
      // prints just the name and filename.
      const fields = bytes ? builtinModinfo(bytes, m.name) ?? [] : [];
      return { ok: true, info: builtinModuleInfo(m.name, fields) };
    } catch (error) {
      return { ok: false, name: m.name, filename: '(builtin)', error };
    }
  }
  const path = m.path;
  try {
    return { ok: true, info: await modinfo(path, { lenient: true, versions: json, syncRead: true }) };
  } catch (error) {
    return { ok: false, name: moduleNameFromPath(path), filename: path, error };
  }
}

function strerror(e: unknown): string {
  if (e instanceof KernmodError && e.errno !== undefined) return errnoInfo(e.errno).description;
  return e instanceof Error ? e.message : String(e);
}

export async function modinfoCommand(argv: string[], io: Io): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      tokens: true,
      options: {
        author: { type: 'boolean', short: 'a' },
        description: { type: 'boolean', short: 'd' },
        license: { type: 'boolean', short: 'l' },
        parameters: { type: 'boolean', short: 'p' },
        filename: { type: 'boolean', short: 'n' },
        null: { type: 'boolean', short: '0' },
        modname: { type: 'boolean', short: 'm' },
        field: { type: 'string', short: 'F' },
        'set-version': { type: 'string', short: 'k' },
        basedir: { type: 'string', short: 'b' },
        json: { type: 'boolean' },
        version: { type: 'boolean', short: 'V' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (e) {
    io.err(`modinfo: ERROR: ${(e as Error).message}\n`);
    return 1;
  }
  const { values: v, positionals } = parsed;
  if (v.help) {
    io.out(MODINFO_USAGE);
    return 0;
  }
  if (v.version) {
    io.out('kernmod modinfo (kmod 30 compatible output)\n');
    return 0;
  }
  // Like getopt, the last of -a -d -l -p -n -F given wins: walk the options in command-line order.
  const flagField: Record<string, string> = { author: 'author', description: 'description', license: 'license', parameters: 'parm', filename: 'filename' };
  let field: string | undefined;
  for (const t of parsed.tokens) {
    if (t.kind !== 'option') continue;
    if (t.name === 'field') field = t.value;
    else if (flagField[t.name]) field = flagField[t.name];
  }
  if (positionals.length === 0) {
    io.err('modinfo: ERROR: missing module or filename.\n');
    return 1;
  }
  const lookup = new ModinfoLookup({
    ...(v.basedir !== undefined ? { root: v.basedir } : {}),
    ...(v['set-version'] !== undefined ? { release: v['set-version'] } : {}),
  });
  const fmt: FormatOptions = { nul: v.null ?? false };
  if (field !== undefined) fmt.field = field;
  const json = v.json ?? false;

  const jobs: Job[] = positionals.map((arg): Job => {
    if (!v.modname && isModuleFilename(arg)) return { arg, kind: 'path', path: absolute(arg) };
    const r = v.modname ? lookup.byName(arg) : lookup.byAlias(arg);
    return r.ok ? { arg, kind: 'resolved', modules: r.modules } : { arg, kind: 'notfound', code: r.code, message: r.message };
  });

  // Read and decode several modules at once; print strictly in argument order.
  const units: Array<{ job: Job; target?: ResolvedModule | { kind: 'path'; path: string } }> = [];
  for (const job of jobs) {
    if (job.kind === 'path') units.push({ job, target: { kind: 'path', path: job.path } });
    else if (job.kind === 'resolved') for (const m of job.modules) units.push({ job, target: m });
    else units.push({ job });
  }
  const results: Array<Promise<Outcome> | undefined> = new Array(units.length);
  let next = 0;
  let printed = 0;
  const start = (): void => {
    while (next < units.length && next < printed + CONCURRENCY) {
      const u = units[next]!;
      const t = u.target;
      if (t && field === 'filename' && !json && t.kind !== 'builtin') {
        // -n needs only the path: kmod prints it without reading the module.
        const info: ModuleInfo = { filename: t.path, name: '', builtin: false, fields: [], params: [], depends: [], versions: [], compression: null, warnings: [] };
        results[next] = Promise.resolve({ ok: true, info });
      } else results[next] = t ? load(t, lookup, json) : undefined;
      next++;
    }
  };
  let status = 0;
  let buffer = '';
  const flush = (): void => {
    if (buffer) io.out(buffer);
    buffer = '';
  };
  const jsonOut: unknown[] = [];
  start();
  for (let i = 0; i < units.length; i++) {
    const u = units[i]!;
    const pending = results[i];
    printed = i + 1;
    start();
    if (!pending) {
      const job = u.job as Extract<Job, { kind: 'notfound' }>;
      status = 1;
      if (json) jsonOut.push({ argument: job.arg, error: { code: job.code, message: job.message } });
      else {
        flush();
        io.err(`modinfo: ERROR: ${job.message}\n`);
      }
      continue;
    }
    const r = await pending;
    if (!r.ok && field === 'filename' && !json) {
      // kmod answers -F filename / -n before it reads the module, so an unreadable file still succeeds.
      buffer += `${r.filename}${fmt.nul ? '\0' : '\n'}`;
      continue;
    }
    if (r.ok) {
      if (json) jsonOut.push(modinfoJson(r.info));
      else {
        // kmod complains while merging parameters: in the full listing and for -F parm only.
        const bad = field === undefined || field === 'parm' ? invalidParmLines(r.info) : '';
        if (bad) {
          flush();
          io.err(bad);
        }
        buffer += formatModinfo(r.info, fmt);
        if (buffer.length > 1 << 16) flush();
      }
      continue;
    }
    status = 1;
    if (json) {
      const error = r.error instanceof KernmodError ? r.error.toJSON() : { message: String((r.error as Error)?.message ?? r.error) };
      jsonOut.push({ argument: u.job.arg, filename: r.filename, error });
      continue;
    }
    // kmod prints the name (builtins) and filename lines before it fails to read the module.
    const sep = fmt.nul ? '\0' : '\n';
    if (r.filename === '(builtin)') {
      if (field === undefined) buffer += `${col16('name:')}${r.name}${sep}`;
      else if (field === 'name') buffer += `${r.name}${sep}`;
    }
    if (field === undefined) buffer += `${col16('filename:')}${r.filename}${sep}`;
    flush();
    io.err(`modinfo: ERROR: could not get modinfo from '${r.name}': ${strerror(r.error)}\n`);
  }
  flush();
  if (json) io.out(JSON.stringify(jsonOut.length === 1 && units.length === 1 ? jsonOut[0] : jsonOut, null, 2) + '\n');
  return status;
}
