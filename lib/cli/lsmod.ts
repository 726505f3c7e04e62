// `kernmod lsmod [--json]`: kmod's lsmod byte for byte by default (tools/lsmod.c: a header, then
// `%-19s %8ld  %d` and the holders), structured rows with --json. Where kmod prints `-2  -2` for a module
// that vanished between /proc/modules and sysfs (kmod issue #41), kernmod drops the row.
import { listModulesSync, type LoadedModule } from '../linux/state.js';
import { getoptLong, ParsedOptions, wantsJson } from './getopt.js';
import { LSMOD_OPTIONS } from './options.js';
import { printErrorJson, printJson, reportUsageError, versionText, type Io } from './output.js';
import { LINUX_ERRNO } from '../errno.js';

const LSMOD_HEADER = 'Module                  Size  Used by\n';

/** kmod's columns: size from sysfs coresize (else /proc/modules), refcnt from sysfs, holders in readdir order. */
export function formatLsmod(modules: readonly LoadedModule[]): string {
  let out = LSMOD_HEADER;
  for (const m of modules) {
    const size = m.coresize ?? m.size;
    const refcnt = m.refcnt ?? -LINUX_ERRNO.ENOENT; // kmod prints -ENOENT when sysfs has no refcnt (no CONFIG_MODULE_UNLOAD)
    out += `${m.name.padEnd(19)} ${String(size).padStart(8)}  ${refcnt}${m.holders.length ? ` ${m.holders.join(',')}` : ''}\n`;
  }
  return out;
}

export async function lsmodCommand(argv: string[], io: Io, root?: string): Promise<number> {
  const parsed = getoptLong(argv, LSMOD_OPTIONS);
  const o = new ParsedOptions(parsed);
  // As startCommand: only a command line that did not parse is searched for --json; after a parse, the parse says.
  const json = parsed.error === undefined ? o.has('json') : wantsJson(argv);
  // kmod's lsmod takes no argument at all, and answers any with one line (tools/lsmod.c).
  const usage = parsed.error ?? (parsed.operands.length > 0 ? `unexpected argument '${parsed.operands[0]}'` : undefined);
  if (usage !== undefined) {
    if (json) return reportUsageError(io, 'lsmod', usage, json);
    io.err('Usage: lsmod\n');
    return 1;
  }
  if (o.has('help')) {
    io.out('Usage: kernmod lsmod [--json]\n');
    return 0;
  }
  if (o.has('version')) {
    io.out(versionText());
    return 0;
  }
  let modules: LoadedModule[];
  try {
    // Sync, and only the attributes lsmod prints: a CLI has nothing to overlap the reads with, and
    // the thread-pool round trips cost more than the reads themselves.
    modules = listModulesSync({ ...(root ? { root } : {}), fields: json ? 'all' : 'lsmod', parameters: json }).filter(
      (m) => m.coresize !== undefined,
    );
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (json) printErrorJson(io, e);
    else
      io.err(
        code === 'ENOENT'
          ? 'lsmod: ERROR: could not open /proc/modules: No such file or directory\nlsmod: hint: this kernel ' +
              'has no loadable module support (CONFIG_MODULES=n)\n'
          : `lsmod: ERROR: ${(e as Error).message}\n`,
      );
    return 1;
  }
  // Addresses as /proc/modules shows them (hex), not as a decimal bigint.
  if (json)
    printJson(
      io,
      modules.map((m) => ({ ...m, address: `0x${m.address.toString(16).padStart(16, '0')}` })),
    );
  else io.out(formatLsmod(modules));
  return 0;
}
