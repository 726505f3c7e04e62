// `kernmod modunload name ...` — NetBSD's modunload(8) (sbin/modunload/main.c 1.5): each name in turn,
// stopping at the first failure with `modunload: name: Device busy`; plus a hint line and --json.
// modunload itself takes no options (every argument is a name); kernmod adds --json and --help, and
// parses with NetBSD's getopt like modload and modstat, so `-x` is an unknown option rather than a name
// no module can have.
import { withBackend } from '../netbsd/index.js';
import type { NetbsdUnloadResult } from '../netbsd/modctl.js';
import { parseNetbsdArgs, reportToolError, type NetbsdCommandDeps } from './modload.js';
import { MODUNLOAD_OPTIONS } from './options.js';
import { printJson, type Io } from './output.js';

export const MODUNLOAD_USAGE = 'Usage: modunload <module_name ...>\n';

export async function modunloadCommand(argv: string[], io: Io, deps: NetbsdCommandDeps = {}): Promise<number> {
  const help = '       --json  print the results or the error as JSON\n';
  const g = parseNetbsdArgs('modunload', argv, MODUNLOAD_OPTIONS, MODUNLOAD_USAGE, help, io);
  if (typeof g === 'number') return g;
  if (g.operands.length === 0) {
    io.err(MODUNLOAD_USAGE);
    return 1;
  }
  const results: NetbsdUnloadResult[] = [];
  for (const name of g.operands) {
    try {
      const netbsd = deps.netbsd ?? withBackend('native');
      results.push(await netbsd.unloadModule(name));
    } catch (e) {
      return reportToolError(io, 'modunload', name, e, g.json);
    }
  }
  if (g.json) printJson(io, { ok: true, results });
  return 0;
}
