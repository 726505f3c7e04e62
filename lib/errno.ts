// errno numbers ↔ names ↔ descriptions. libuv's map (util.getSystemErrorMap) lacks several codes that
// module loading returns (ENOEXEC, EBADMSG, ENOKEY, EKEYREJECTED ...), so kernmod carries its own: Linux's
// asm-generic table, the same for every backend and C library (a Linux kernel returns these numbers).
import { LINUX_GENERIC_ERRNO } from './linux/errno-table.js';

export interface ErrnoInfo {
  readonly errno: number; // positive
  readonly code: string; // 'EEXIST'
  readonly description: string; // 'File exists'
}

/**
 * Linux's errno numbers by name ('ENOSYS' → 38): what a Linux kernel returns, whatever C library runs
 * here. Code names an errno by its name here (a typo does not compile), never by its number.
 */
export const LINUX_ERRNO = Object.freeze(Object.fromEntries(LINUX_GENERIC_ERRNO.map(([n, code]) => [code, n]))) as Readonly<
  Record<(typeof LINUX_GENERIC_ERRNO)[number][1], number>
>;

const byNumber = new Map<number, ErrnoInfo>();
const byCode = new Map<string, ErrnoInfo>();

for (const [errno, code, description] of LINUX_GENERIC_ERRNO) {
  const info = { errno, code, description };
  byNumber.set(errno, info);
  if (!byCode.has(code)) byCode.set(code, info);
}
// Aliases that share a number with the name above (EWOULDBLOCK = EAGAIN, EDEADLOCK = EDEADLK ...).
for (const [alias, code] of [
  ['EWOULDBLOCK', 'EAGAIN'],
  ['EDEADLOCK', 'EDEADLK'],
  ['ENOTSUP', 'EOPNOTSUPP'],
] as const) {
  const info = byCode.get(code);
  if (info) byCode.set(alias, info);
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
