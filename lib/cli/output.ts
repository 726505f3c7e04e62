// The only place that writes to the terminal (besides each command's own result lines): kmod-style
// error lines, the extra `hint:` line, and --json.
import { KernmodError } from '../errors.js';

export interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
}

export const processIo: Io = {
  out: (s) => process.stdout.write(s),
  err: (s) => process.stderr.write(s),
};

/** `insmod: ERROR: ...` then `insmod: hint: ...` on stderr, or the error as JSON on stdout. */
export function reportError(io: Io, tool: string, line: string, err: unknown, json: boolean): void {
  if (json) {
    const body = err instanceof KernmodError ? err.toJSON() : { name: 'Error', message: String((err as Error)?.message ?? err) };
    io.out(JSON.stringify({ ok: false, error: body }, null, 2) + '\n');
    return;
  }
  io.err(`${tool}: ERROR: ${line}\n`);
  if (err instanceof KernmodError && err.hint) io.err(`${tool}: hint: ${err.hint}\n`);
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
