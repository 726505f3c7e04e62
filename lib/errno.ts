// errno numbers ↔ names ↔ descriptions. libuv's map (util.getSystemErrorMap) lacks several codes that
// module loading returns (ENOEXEC, EBADMSG, ENOKEY, EKEYREJECTED ...), so kernmod carries its own: the
// C library's table exported by the native addon when it is loaded, else the Linux asm-generic table.
import { LINUX_GENERIC_ERRNO } from './linux/errno-table.js';

export interface ErrnoInfo {
  readonly errno: number; // positive
  readonly code: string; // 'EEXIST'
  readonly description: string; // 'File exists'
}

/**
 * Linux's errno numbers by name ('ENOSYS' → 38): what a Linux kernel returns, whatever C library runs
 * here. The load policy and the fake kernel compare and return these.
 */
export const LINUX_ERRNO: Readonly<Record<string, number>> = Object.freeze(
  Object.fromEntries(LINUX_GENERIC_ERRNO.map(([n, code]) => [code, n])),
);

const byNumber = new Map<number, ErrnoInfo>();
const byCode = new Map<string, ErrnoInfo>();

function add(errno: number, code: string, description: string): void {
  const info = { errno, code, description };
  byNumber.set(errno, info);
  if (!byCode.has(code)) byCode.set(code, info);
}

for (const [n, code, description] of LINUX_GENERIC_ERRNO) add(n, code, description);
// Aliases that share a number with the name above (EWOULDBLOCK = EAGAIN, EDEADLOCK = EDEADLK ...).
for (const [alias, code] of [
  ['EWOULDBLOCK', 'EAGAIN'],
  ['EDEADLOCK', 'EDEADLK'],
  ['ENOTSUP', 'EOPNOTSUPP'],
] as const) {
  const info = byCode.get(code);
  if (info) byCode.set(alias, info);
}

/**
 * Replaces the table with the one from the running C library (native addon). Called once when the
 * addon loads; on Linux with glibc it agrees with the built-in table.
 */
export function installErrnoTable(table: Record<string, [string, string]>): void {
  byNumber.clear();
  for (const [n, [code, description]] of Object.entries(table)) {
    const errno = Number(n);
    const info = { errno, code, description };
    byNumber.set(errno, info);
    byCode.set(code, info);
  }
}

/** Looks up a positive or negative errno. Unknown numbers get code `E<n>`. */
export function errnoInfo(errno: number): ErrnoInfo {
  const n = Math.abs(errno);
  return byNumber.get(n) ?? { errno: n, code: `E${n}`, description: `Unknown error ${n}` };
}

/** The positive errno for a code ('EAGAIN' → 11), or undefined. */
export function errnoNumber(code: string): number | undefined {
  return byCode.get(code)?.errno;
}
