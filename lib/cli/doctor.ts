// `kernmod doctor [FILE [PARAM=VALUE...]] [--json]`: can a load work here, and what to do if not.
import { selectBackend, type BackendChoice } from '../backend/select.js';
import { preflight } from '../linux/preflight.js';
import { joinParamArgs } from './insmod.js';
import { optionHelp } from './getopt.js';
import { DOCTOR_OPTIONS } from './options.js';
import { printErrorJson, printJson, startCommand, type Io } from './output.js';

const MARK = { pass: 'ok  ', fail: 'FAIL', warn: 'warn', info: 'info' } as const;

interface BackendReport {
  status: 'info' | 'warn' | 'fail';
  message: string;
  fix?: string;
  choice?: BackendChoice;
}

/** Which backend is active and why: the addon's origin, or the ffi fallback and what the addon lacked. */
export function backendReport(select: () => { choice: BackendChoice } = () => selectBackend()): BackendReport {
  let choice: BackendChoice;
  try {
    choice = select().choice;
  } catch (e) {
    return { status: 'fail', message: `no backend can load: ${(e as Error).message}` };
  }
  const why = choice.skipped.map((s) => `${s.name}: ${s.reason}`).join('; ');
  switch (choice.source) {
    case 'prebuilt':
      return {
        status: 'info',
        message: `backend: native, the prebuilt addon shipped with kernmod (${choice.path}), used because no addon was built here`,
        choice,
      };
    case 'built here':
      return {
        status: 'info',
        message:
          `backend: native, the addon built on this machine (${choice.path}), used before any prebuilt one: ` +
          `it exists only when asked for or when no prebuilt fitted`,
        choice,
      };
    case 'KERNMOD_NATIVE_DIR':
      return { status: 'info', message: `backend: native, the addon in KERNMOD_NATIVE_DIR (${choice.path})`, choice };
    case 'fallback':
      return {
        status: 'warn',
        message: `backend: ffi fallback, slower than the addon, because the native addon did not load (${why})`,
        fix: 'install a C++ toolchain (python3, make, g++) and run `npm rebuild kernmod --build-from-source`',
        choice,
      };
    default:
      return { status: 'info', message: `backend: ${choice.name} (${choice.source})`, choice };
  }
}

export async function doctorCommand(argv: string[], io: Io): Promise<number> {
  const usage =
    `Usage: kernmod doctor [FILE [PARAM=VALUE...]] [--json]\nChecks whether a module load can work on ` +
    `this kernel, before trying it.\n${optionHelp(DOCTOR_OPTIONS)}`;
  const start = startCommand(io, 'doctor', argv, DOCTOR_OPTIONS, usage);
  // doctor's 1 means "a load would fail"; a command line it cannot take is an error.
  if (typeof start === 'number') return start === 0 ? 0 : 2;
  const json = start.o.has('json');
  const [file, ...params] = start.o.parse.operands;
  try {
    const backend = backendReport();
    const pre = await preflight(file, params.length ? { params: joinParamArgs(params) } : {});
    const r = { ...pre, ok: pre.ok && backend.status !== 'fail', backend };
    if (json) printJson(io, r);
    else {
      for (const c of [backend, ...r.checks]) {
        io.out(`${MARK[c.status]}  ${c.message}\n`);
        if (c.fix && c.status !== 'pass') io.out(`      fix: ${c.fix}\n`);
      }
      io.out(r.ok ? 'no check failed\n' : 'a load would fail: see FAIL above\n');
    }
    return r.ok ? 0 : 1;
  } catch (e) {
    if (json) printErrorJson(io, e);
    else io.err(`doctor: ERROR: ${(e as Error).message}\n`);
    return 2;
  }
}
