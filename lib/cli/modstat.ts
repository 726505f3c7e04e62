// `kernmod modstat [-Aaek] [-n name | name]` — NetBSD's modstat(8): the module table sorted by name,
// in modstat's columns (sbin/modstat/main.c 1.23):
//   printf("%-*s %-8s %-8s %-4s %5s ", w, "NAME", "CLASS", "SOURCE", "FLAG", "REFS")
//   [-k] printf("%-16s ", "ADDRESS");   printf("%7s %s \n", "SIZE", "REQUIRES")
// with w = max(16, longest name); rows alike, SIZE and REQUIRES `-` when empty, FLAG from ms_flags & 3
// ("-", "f", "a", "af"), UNKNOWN for a class or source out of range. -e / -a / -A answer through
// MODCTL_EXISTS with modstat's sentences on stderr. Plus --json (the listModules() objects).
import { execFileSync } from 'node:child_process';
import { withBackend, type NetbsdKernmod } from '../netbsd/index.js';
import type { NetbsdModuleInfo } from '../netbsd/modctl.js';
import { MODSTAT_OPTIONS } from './options.js';
import { parseNetbsdArgs, reportToolError } from './modload.js';
import { printJson, type Io } from './output.js';

export const MODSTAT_USAGE = 'Usage: modstat [-Aaen] [name]\n';

export interface ModstatDeps {
  netbsd?: NetbsdKernmod;
  /** Reads a sysctl value as text (for -A: kern.module.autoload). Default: `sysctl -n NAME`. */
  sysctl?: (name: string) => string;
}

const SOURCES: Record<string, string> = { kernel: 'builtin', boot: 'boot', filesys: 'filesys' };
const FLAGS = ['-', 'f', 'a', 'af'] as const;

function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b)); // qsort with strcmp
}

/** modstat's table, byte for byte. `name` keeps only that module (the header is printed regardless). */
export function formatModstat(modules: readonly NetbsdModuleInfo[], options: { name?: string; address?: boolean } = {}): string {
  const sorted = [...modules].sort((a, b) => byteOrder(a.name, b.name));
  const w = Math.max(16, ...sorted.map((m) => Buffer.byteLength(m.name)));
  const pad = (s: string, n: number) => s + ' '.repeat(Math.max(0, n - Buffer.byteLength(s)));
  const left = (s: string, n: number) => ' '.repeat(Math.max(0, n - Buffer.byteLength(s))) + s;
  let out = `${pad('NAME', w)} ${pad('CLASS', 8)} ${pad('SOURCE', 8)} ${pad('FLAG', 4)} ${left('REFS', 5)} `;
  if (options.address) out += `${pad('ADDRESS', 16)} `;
  out += `${left('SIZE', 7)} REQUIRES \n`;
  for (const m of sorted) {
    if (options.name !== undefined && m.name !== options.name) continue;
    const cls = m.class === 'unknown' ? 'UNKNOWN' : m.class;
    const src = SOURCES[m.source] ?? 'UNKNOWN';
    out += `${pad(m.name, w)} ${pad(cls, 8)} ${pad(src, 8)} ${pad(FLAGS[m.flags.raw & 3]!, 4)} ${left(String(m.refcnt), 5)} `;
    if (options.address) out += `${pad(m.address.toString(16), 16)} `;
    out += `${left(m.size === 0 ? '-' : String(m.size), 7)} ${m.required.length === 0 ? '-' : m.required.join(',')}\n`;
  }
  return out;
}

function defaultSysctl(name: string): string {
  return execFileSync('sysctl', ['-n', name], { encoding: 'utf8' }).trim();
}

export async function modstatCommand(argv: string[], io: Io, deps: ModstatDeps = {}): Promise<number> {
  const help = "       -k      also print each module's load address\n       --json  print the modules (or -e/-a/-A's answer) as JSON\n";
  const g = parseNetbsdArgs('modstat', argv, MODSTAT_OPTIONS, MODSTAT_USAGE, help, io);
  if (typeof g === 'number') return g;
  const json = g.json;
  const loadable = g.last('A', 'a', 'e')?.key;
  let name = g.last('n')?.value;
  if (g.operands.length === 1 && name === undefined) name = g.operands[0];
  else if (g.operands.length !== 0) {
    io.err(MODSTAT_USAGE);
    return 1;
  }
  let netbsd: NetbsdKernmod;
  try {
    netbsd = deps.netbsd ?? withBackend('native');
  } catch (e) {
    return reportToolError(io, 'modstat', undefined, e, json);
  }

  if (loadable !== undefined) {
    let s;
    try {
      s = await netbsd.moduleSupport();
    } catch (e) {
      return reportToolError(io, 'modstat', 'modctl_exists for autoload', e, json);
    }
    const ask = loadable === 'e' ? s.load : s.autoload;
    let status = 1;
    let line: string;
    if (s.modular === false) line = 'The kernel was compiled without options MODULAR.';
    else if (ask === null)
      line = 'modctl_exists for autoload: Invalid argument'; // no MODCTL_EXISTS before 7.0
    else if (!ask) line = loadable === 'e' ? 'You are not allowed to load modules right now.' : 'Modules can not be autoloaded right now.';
    else if (loadable === 'e') {
      line = 'You can load modules.';
      status = 0;
    } else {
      let autoload = true;
      if (loadable === 'A') {
        try {
          autoload = !/^0$|^false$/i.test((deps.sysctl ?? defaultSysctl)('kern.module.autoload'));
        } catch (e) {
          io.err(`modstat: sysctl kern.module.autoload failed.: ${(e as Error).message}\n`);
          return 1;
        }
      }
      line = `Modules can be autoloaded${autoload ? '' : ', but kern.module.autoload = 0'}.`;
      status = 0;
    }
    if (json) printJson(io, { ok: status === 0, support: s, message: line });
    else io.err(`modstat: ${line}\n`); // errx(3): modstat prints these on stderr
    return status;
  }

  let modules: NetbsdModuleInfo[];
  try {
    modules = await netbsd.listModules();
  } catch (e) {
    return reportToolError(io, 'modstat', 'modctl(MODCTL_STAT)', e, json);
  }
  if (json) printJson(io, name === undefined ? modules : modules.filter((m) => m.name === name));
  else io.out(formatModstat(modules, { ...(name === undefined ? {} : { name }), address: g.has('k') }));
  return 0;
}
