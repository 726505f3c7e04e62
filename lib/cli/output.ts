// The only place that writes to the terminal (besides each command's own result lines): kmod-style
// error lines, the extra `hint:` line, and --json.
import { readFileSync, writeSync } from 'node:fs';
import { KernmodError } from '../errors.js';
import type { KernelWarning } from '../linux/kernel-log-hints.js';
import { getoptLong, ParsedOptions, wantsJson, type OptionSpec } from './getopt.js';

export interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
}

/**
 * Writes all of `s` to fd 1 or 2 before returning, as kmod's tools write: the first use of
 * process.stdout loads node:stream and builds a stream, most of the cost of printing one line.
 * A non-blocking pipe that is full (EAGAIN) is waited for; a reader that went away (EPIPE) ends the
 * command quietly, as SIGPIPE ends kmod's tools (see endQuietlyWhenOutputCloses).
 */
function writeAll(fd: 1 | 2, s: string): void {
  let rest = Buffer.from(s);
  while (rest.length > 0) {
    try {
      rest = rest.subarray(writeSync(fd, rest));
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EPIPE') process.exit(141);
      if (code !== 'EAGAIN') throw e;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1); // 1 ms, then try again
    }
  }
}

export const processIo: Io = {
  out: (s) => writeAll(1, s),
  err: (s) => writeAll(2, s),
};

/**
 * A reader that went away (`kernmod doctor | head -2`) ends the command quietly, as SIGPIPE ends kmod's
 * tools: no stack trace for the EPIPE, and the status a shell shows for a SIGPIPE death (128 + 13).
 * For code that writes through process.stdout/stderr (processIo's writes see EPIPE themselves): calling
 * it creates those streams.
 */
export function endQuietlyWhenOutputCloses(): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EPIPE') process.exit(141);
      throw e;
    });
  }
}

/**
 * The one --json error shape of every command: `{ "ok": false, "error": { name, code, message, ... } }`
 * on stdout, the error as KernmodError.toJSON() gives it.
 */
export function errorJson(err: unknown): { ok: false; error: Record<string, unknown> } {
  if (err instanceof KernmodError) return { ok: false, error: err.toJSON() };
  // A Node system error (ENOENT from a read) keeps its code and path; anything else is internal.
  const e = err as Partial<NodeJS.ErrnoException> | undefined;
  const body: Record<string, unknown> = {
    name: 'Error',
    code: typeof e?.code === 'string' ? e.code : 'ERR_KERNMOD_INTERNAL',
    message: String(e?.message ?? err),
  };
  if (typeof e?.errno === 'number') body.errno = e.errno;
  if (typeof e?.syscall === 'string') body.syscall = e.syscall;
  if (typeof e?.path === 'string') body.path = e.path;
  return { ok: false, error: body };
}

export function printErrorJson(io: Io, err: unknown): void {
  printJson(io, errorJson(err));
}

/**
 * A command line the tool cannot take (glibc's getopt line, e.g. `modprobe: unrecognized option
 * '--bogus'`): that line on stderr, or with --json the error as JSON, code ERR_KERNMOD_USAGE. Exit 1.
 */
export function reportUsageError(io: Io, tool: string, message: string, json: boolean): number {
  if (json)
    printErrorJson(io, new KernmodError({ code: 'ERR_KERNMOD_USAGE', phase: 'validate', message: message.replace(/^ERROR: /, '') }));
  else io.err(`${tool}: ${message}\n`);
  return 1;
}

/** What -s/--syslog gets: kmod logs to syslog there, kernmod has no syslog writer and says so. */
export const SYSLOG_REFUSED = "option '--syslog' is not supported: kernmod prints its messages to stderr";

/**
 * How a command starts: its command line parsed with its table, or, when that ends the command, the exit
 * status: a usage error, --help (`usage` on stdout), --version, or kmod's -s, which kernmod refuses
 * rather than ignore (it has no syslog writer). `json`: --json was asked for, even on a failed parse.
 */
export function startCommand(
  io: Io,
  tool: string,
  argv: readonly string[],
  table: readonly OptionSpec[],
  usage: string,
): { o: ParsedOptions; json: boolean } | number {
  const parsed = getoptLong(argv, table);
  // Only a command line that did not parse is searched for --json; after a parse, the parse says.
  if (parsed.error !== undefined) return reportUsageError(io, tool, parsed.error, wantsJson(argv));
  const o = new ParsedOptions(parsed);
  const json = o.has('json');
  if (o.has('help')) {
    io.out(usage);
    return 0;
  }
  if (o.has('version')) {
    io.out(versionText());
    return 0;
  }
  if (o.has('syslog')) return reportUsageError(io, tool, SYSLOG_REFUSED, json);
  return { o, json };
}

/** kernmod's version from its package.json (found from dist/lib/cli or, in tests, lib/cli). */
function packageVersion(): string {
  for (const up of ['../../../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(up, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'kernmod' && pkg.version) return pkg.version;
    } catch {
      /* not at this depth */
    }
  }
  return 'unknown';
}

/** What `-V`/`--version` prints on every command, in kmod's form (`kmod version 30`). */
export function versionText(): string {
  return `kernmod version ${packageVersion()}\n`;
}

/**
 * `insmod: ERROR: ...`, the call's kernel lines (`  kernel: loop: ...`), then `insmod: hint: ...` on
 * stderr; or the error as JSON on stdout, which carries the kernel lines as `kernelLog`.
 */
export function reportError(io: Io, tool: string, line: string, err: unknown, json: boolean): void {
  if (json) {
    printErrorJson(io, err);
    return;
  }
  io.err(`${tool}: ERROR: ${line}\n`);
  if (!(err instanceof KernmodError)) return;
  for (const r of err.kernelLog ?? []) io.err(`  kernel: ${r.message}\n`);
  if (err.hint) io.err(`${tool}: hint: ${err.hint}\n`);
}

/** What the kernel warned about although the call succeeded (--json carries them in the result). */
export function reportKernelWarnings(io: Io, tool: string, warnings: readonly KernelWarning[] | undefined): void {
  for (const w of warnings ?? []) io.err(`${tool}: WARNING: kernel: ${w.message}\n`);
}

export function printJson(io: Io, value: unknown): void {
  io.out(JSON.stringify(value, (_k, v) => (typeof v === 'bigint' ? v.toString() : v), 2) + '\n');
}

/** glibc's strerror text for a KernmodError from a syscall ('File exists'). */
export function describe(err: unknown): string {
  if (err instanceof KernmodError) {
    if (err.errno !== undefined) {
      const i = err.message.indexOf(': ');
      const rest = i === -1 ? err.message : err.message.slice(i + 2);
      const comma = rest.lastIndexOf(`, ${err.syscall}`);
      const text = comma === -1 ? rest : rest.slice(0, comma);
      return text.charAt(0).toUpperCase() + text.slice(1);
    }
    return err.message;
  }
  return err instanceof Error ? err.message : String(err);
}
