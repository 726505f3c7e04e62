// `kernmod apply [--check] [--diff] [--json] [--root DIR] [--load-dir DIR] [--config-dir DIR] FILE|-`:
// make the kernel and the persisted modprobe.d / modules-load.d files match a spec (JSON or YAML).
// Exit status: 0 done (or nothing to do), 1 error (nothing changed for a refused spec; a failure
// half-way lists what was done), 2 with --check when anything would change or a parameter drifts.
import { readFileSync } from 'node:fs';
import { readRegularFileSync } from '../fs-read.js';
import { KernmodError } from '../errors.js';
import type { Kernmod } from '../kernmod.js';
import { ensure, type EnsureOptions, type EnsureResult } from '../provision/ensure.js';
import type { Action } from '../provision/plan.js';
import { parseSpecText } from '../provision/spec.js';
import type { ProvisionSystem } from '../provision/system.js';
import { optionHelp } from './getopt.js';
import { APPLY_OPTIONS } from './options.js';
import { errorJson, printJson, startCommand, type Io } from './output.js';

/** A spec file is a regular file (a FIFO named by mistake must not hang a root tool) of at most 16 MiB. */
const SPEC_MAX_BYTES = 16 * 1024 * 1024;

const APPLY_USAGE = `Usage: kernmod apply [--check] [--diff] [--json] [--root DIR] [--load-dir DIR] [--config-dir DIR] FILE|-
  Makes kernel modules match FILE (JSON or YAML; - reads standard input):
    NAME: { state: loaded|installed|unloaded|uninstalled|blacklisted|disabled, params: {...}, reload: bool }
${optionHelp(APPLY_OPTIONS)}`;

export interface ApplyDeps {
  kernmod?: () => Kernmod;
  /** The system to act on (tests); default the running kernel. */
  system?: ProvisionSystem;
  readStdin?: () => string;
}

function describeAction(a: Action): string {
  switch (a.action) {
    case 'load':
    case 'reload':
    case 'unload':
      return `${a.action}${a.params ? ` (${a.params})` : ''}`;
    case 'set-param':
      return `set ${a.param}: ${a.before} -> ${a.after}`;
    case 'write-file':
      return `${a.before === null ? 'create' : 'update'} ${a.path}`;
    case 'remove-file':
      return `remove ${a.path}`;
  }
}

function diffLines(a: Action): string {
  if (a.action !== 'write-file' && a.action !== 'remove-file') return '';
  const lines = (s: string | null) => (s === null ? [] : s.replace(/\n$/, '').split('\n'));
  let out = `--- ${a.before === null ? '/dev/null' : `${a.path} (before)`}\n+++ ${a.after === null ? '/dev/null' : `${a.path} (after)`}\n`;
  for (const l of lines(a.before)) out += `-${l}\n`;
  for (const l of lines(a.after)) out += `+${l}\n`;
  return out;
}

function report(io: Io, r: EnsureResult, diff: boolean): void {
  const shown = r.actions.filter((a) => a.status !== 'planned' || r.check);
  for (const a of shown) {
    const prefix = r.check ? 'would ' : a.status === 'failed' ? 'FAILED: ' : '';
    io.out(`${a.module}: ${prefix}${describeAction(a)}\n`);
    if (diff) io.out(diffLines(a));
  }
  for (const d of r.drift) {
    io.out(
      `${d.module}: drift: parameter ${d.param} is ${d.actual}, the spec says ${d.expected} (read-only at ` +
        `run time: ${d.reload ? (r.check ? 'a reload would fix it' : 'reloaded') : 'reload: true would unload and load the module'})\n`,
    );
  }
  const n = shown.filter((a) => a.status !== 'failed').length;
  if (r.check) io.out(n ? `${n} change${n === 1 ? '' : 's'} would be made\n` : 'no changes: the system matches the spec\n');
  else if (r.ok) io.out(n ? `${n} change${n === 1 ? '' : 's'} made\n` : 'no changes: the system already matches the spec\n');
  else io.out(`stopped after ${n} change${n === 1 ? '' : 's'}; ${r.actions.filter((a) => a.status === 'planned').length} not made\n`);
}

function errorLines(io: Io, e: unknown): void {
  const err = e instanceof KernmodError ? e : undefined;
  io.err(`apply: ERROR: ${(e as Error)?.message ?? e}\n`);
  if (err?.hint) io.err(`apply: hint: ${err.hint}\n`);
}

function applyErrorJson(e: unknown): Record<string, unknown> {
  if (!(e instanceof KernmodError)) return errorJson(e).error;
  const problems = (e as KernmodError & { problems?: string[] }).problems;
  return { ...e.toJSON(), ...(problems ? { problems } : {}) };
}

export async function applyCommand(argv: string[], io: Io, deps: ApplyDeps = {}): Promise<number> {
  const start = startCommand(io, 'apply', argv, APPLY_OPTIONS, APPLY_USAGE);
  if (typeof start === 'number') return start;
  const { o } = start;
  if (o.parse.operands.length !== 1) {
    io.err(`apply: ERROR: give one spec file (or - for standard input)\n${APPLY_USAGE}`);
    return 1;
  }
  const json = o.has('json');
  const file = o.parse.operands[0]!;
  let result: EnsureResult;
  try {
    let text: string;
    try {
      text =
        file === '-' ? (deps.readStdin ?? (() => readFileSync(0, 'utf8')))() : readRegularFileSync(file, SPEC_MAX_BYTES).toString('utf8');
    } catch (e) {
      if (e instanceof KernmodError) throw e;
      throw new KernmodError({
        code: (e as NodeJS.ErrnoException).code ?? 'EIO',
        path: file,
        phase: 'open',
        message: `cannot read ${file}: ${(e as Error).message}`,
      });
    }
    const [imageRoot, loadDir, configDir] = [o.last('root'), o.last('load-dir'), o.last('config-dir')];
    const opts: EnsureOptions = {
      check: o.has('check'),
      ...(imageRoot !== undefined ? { imageRoot } : {}),
      ...(loadDir !== undefined ? { loadDir } : {}),
      ...(configDir !== undefined ? { configDir } : {}),
      ...(deps.system ? { system: deps.system } : {}),
      ...(deps.kernmod ? { kernmod: deps.kernmod } : {}),
    };
    result = await ensure(parseSpecText(text, file === '-' ? 'standard input' : file), opts);
  } catch (e) {
    if (json) printJson(io, { ok: false, changed: false, error: applyErrorJson(e) });
    else errorLines(io, e);
    return 1;
  }
  if (json) printJson(io, { ...result, ...(result.error ? { error: applyErrorJson(result.error) } : {}) });
  else {
    report(io, result, o.has('diff'));
    if (result.error) errorLines(io, result.error);
  }
  if (!result.ok) return 1;
  if (result.check && (result.changed || result.drift.length > 0)) return 2;
  return 0;
}
