// The kernel's own lines in the CLI: under kmod's error line (`  kernel: loop: ...`), before the hint,
// and the warnings of a call that succeeded (`insmod: WARNING: kernel: ...`). --json carries them in
// the result (`kernelLog`, `warnings`) and the error (`kernelLog`) instead.
import { KernmodError } from '../errors.js';
import type { KernelWarning } from '../linux/kernel-log-hints.js';
import { reportError, type Io } from './output.js';

/** Like reportError, with the call's kernel lines between the error line and the hint. */
export function reportCallError(io: Io, tool: string, line: string, err: unknown, json: boolean): void {
  if (json || !(err instanceof KernmodError) || !err.kernelLog?.length) {
    reportError(io, tool, line, err, json);
    return;
  }
  io.err(`${tool}: ERROR: ${line}\n`);
  for (const r of err.kernelLog) io.err(`  kernel: ${r.message}\n`);
  if (err.hint) io.err(`${tool}: hint: ${err.hint}\n`);
}

/** What the kernel warned about although the call succeeded. */
export function reportKernelWarnings(io: Io, tool: string, warnings: readonly KernelWarning[] | undefined): void {
  for (const w of warnings ?? []) io.err(`${tool}: WARNING: kernel: ${w.message}\n`);
}
