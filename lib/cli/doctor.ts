// `kernmod doctor [FILE [PARAM=VALUE...]] [--json]`: can a load work here, and what to do if not.
import { parseArgs } from 'node:util';
import { KernmodError } from '../errors.js';
import { preflight } from '../linux/doctor.js';
import { joinParamArgs } from './insmod.js';
import { printJson, type Io } from './output.js';

const MARK = { pass: 'ok  ', fail: 'FAIL', warn: 'warn', info: 'info' } as const;

export async function doctorCommand(argv: string[], io: Io): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, options: { json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } });
  } catch (e) {
    io.err(`doctor: ERROR: ${(e as Error).message}\n`);
    return 2;
  }
  if (parsed.values.help) {
    io.out('Usage: kernmod doctor [FILE [PARAM=VALUE...]] [--json]\nChecks whether a module load can work on this kernel, before trying it.\n');
    return 0;
  }
  const [file, ...params] = parsed.positionals;
  try {
    const r = await preflight(file, params.length ? { params: joinParamArgs(params) } : {});
    if (parsed.values.json) printJson(io, r);
    else {
      for (const c of r.checks) {
        io.out(`${MARK[c.status]}  ${c.message}\n`);
        if (c.fix && c.status !== 'pass') io.out(`      fix: ${c.fix}\n`);
      }
      io.out(r.ok ? 'no check failed\n' : 'a load would fail: see FAIL above\n');
    }
    return r.ok ? 0 : 1;
  } catch (e) {
    if (parsed.values.json) printJson(io, { ok: false, error: e instanceof KernmodError ? e.toJSON() : String(e) });
    else io.err(`doctor: ERROR: ${(e as Error).message}\n`);
    return 2;
  }
}
