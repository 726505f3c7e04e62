// NetBSD errno numbers, names and strerror() texts, carried here so that a NetBSD backend reports the
// right code and message whatever the host (on Linux, 35 is EDEADLK; on NetBSD it is EAGAIN).
//
// Source: NetBSD sys/sys/errno.h 1.42 (2020-03-08), the values of 9.x and 10.x; 1.32 (2003) has the same
// numbers up to ETIME 92. NetBSD's libc generates its strerror table from the comments of that header
// (lib/libc/gen/errlist.awk 1.3), so the comment is the message: the descriptions below are those texts.
// Kernel-internal pseudo-errors (EJUSTRETURN -2, ERESTART -3, EPASSTHROUGH -4 ...) never reach userland.
import type { ErrnoInfo } from '../errno.js';

export const NETBSD_ERRNO: ReadonlyArray<readonly [number, string, string]> = [
  [1, 'EPERM', 'Operation not permitted'],
  [2, 'ENOENT', 'No such file or directory'],
  [3, 'ESRCH', 'No such process'],
  [4, 'EINTR', 'Interrupted system call'],
  [5, 'EIO', 'Input/output error'],
  [6, 'ENXIO', 'Device not configured'],
  [7, 'E2BIG', 'Argument list too long'],
  [8, 'ENOEXEC', 'Exec format error'],
  [9, 'EBADF', 'Bad file descriptor'],
  [10, 'ECHILD', 'No child processes'],
  [11, 'EDEADLK', 'Resource deadlock avoided'],
  [12, 'ENOMEM', 'Cannot allocate memory'],
  [13, 'EACCES', 'Permission denied'],
  [14, 'EFAULT', 'Bad address'],
  [15, 'ENOTBLK', 'Block device required'],
  [16, 'EBUSY', 'Device busy'],
  [17, 'EEXIST', 'File exists'],
  [18, 'EXDEV', 'Cross-device link'],
  [19, 'ENODEV', 'Operation not supported by device'],
  [20, 'ENOTDIR', 'Not a directory'],
  [21, 'EISDIR', 'Is a directory'],
  [22, 'EINVAL', 'Invalid argument'],
  [23, 'ENFILE', 'Too many open files in system'],
  [24, 'EMFILE', 'Too many open files'],
  [25, 'ENOTTY', 'Inappropriate ioctl for device'],
  [26, 'ETXTBSY', 'Text file busy'],
  [27, 'EFBIG', 'File too large'],
  [28, 'ENOSPC', 'No space left on device'],
  [29, 'ESPIPE', 'Illegal seek'],
  [30, 'EROFS', 'Read-only file system'],
  [31, 'EMLINK', 'Too many links'],
  [32, 'EPIPE', 'Broken pipe'],
  [33, 'EDOM', 'Numerical argument out of domain'],
  [34, 'ERANGE', 'Result too large or too small'],
  [35, 'EAGAIN', 'Resource temporarily unavailable'],
  [36, 'EINPROGRESS', 'Operation now in progress'],
  [37, 'EALREADY', 'Operation already in progress'],
  [38, 'ENOTSOCK', 'Socket operation on non-socket'],
  [39, 'EDESTADDRREQ', 'Destination address required'],
  [40, 'EMSGSIZE', 'Message too long'],
  [41, 'EPROTOTYPE', 'Protocol wrong type for socket'],
  [42, 'ENOPROTOOPT', 'Protocol option not available'],
  [43, 'EPROTONOSUPPORT', 'Protocol not supported'],
  [44, 'ESOCKTNOSUPPORT', 'Socket type not supported'],
  [45, 'EOPNOTSUPP', 'Operation not supported'],
  [46, 'EPFNOSUPPORT', 'Protocol family not supported'],
  [47, 'EAFNOSUPPORT', 'Address family not supported by protocol family'],
  [48, 'EADDRINUSE', 'Address already in use'],
  [49, 'EADDRNOTAVAIL', "Can't assign requested address"],
  [50, 'ENETDOWN', 'Network is down'],
  [51, 'ENETUNREACH', 'Network is unreachable'],
  [52, 'ENETRESET', 'Network dropped connection on reset'],
  [53, 'ECONNABORTED', 'Software caused connection abort'],
  [54, 'ECONNRESET', 'Connection reset by peer'],
  [55, 'ENOBUFS', 'No buffer space available'],
  [56, 'EISCONN', 'Socket is already connected'],
  [57, 'ENOTCONN', 'Socket is not connected'],
  [58, 'ESHUTDOWN', "Can't send after socket shutdown"],
  [59, 'ETOOMANYREFS', "Too many references: can't splice"],
  [60, 'ETIMEDOUT', 'Operation timed out'],
  [61, 'ECONNREFUSED', 'Connection refused'],
  [62, 'ELOOP', 'Too many levels of symbolic links'],
  [63, 'ENAMETOOLONG', 'File name too long'],
  [64, 'EHOSTDOWN', 'Host is down'],
  [65, 'EHOSTUNREACH', 'No route to host'],
  [66, 'ENOTEMPTY', 'Directory not empty'],
  [67, 'EPROCLIM', 'Too many processes'],
  [68, 'EUSERS', 'Too many users'],
  [69, 'EDQUOT', 'Disc quota exceeded'],
  [70, 'ESTALE', 'Stale NFS file handle'],
  [71, 'EREMOTE', 'Too many levels of remote in path'],
  [72, 'EBADRPC', 'RPC struct is bad'],
  [73, 'ERPCMISMATCH', 'RPC version wrong'],
  [74, 'EPROGUNAVAIL', 'RPC prog. not avail'],
  [75, 'EPROGMISMATCH', 'Program version wrong'],
  [76, 'EPROCUNAVAIL', 'Bad procedure for program'],
  [77, 'ENOLCK', 'No locks available'],
  [78, 'ENOSYS', 'Function not implemented'],
  [79, 'EFTYPE', 'Inappropriate file type or format'],
  [80, 'EAUTH', 'Authentication error'],
  [81, 'ENEEDAUTH', 'Need authenticator'],
  [82, 'EIDRM', 'Identifier removed'],
  [83, 'ENOMSG', 'No message of desired type'],
  [84, 'EOVERFLOW', 'Value too large to be stored in data type'],
  [85, 'EILSEQ', 'Illegal byte sequence'],
  [86, 'ENOTSUP', 'Not supported'],
  [87, 'ECANCELED', 'Operation canceled'],
  [88, 'EBADMSG', 'Bad or Corrupt message'],
  [89, 'ENODATA', 'No message available'],
  [90, 'ENOSR', 'No STREAM resources'],
  [91, 'ENOSTR', 'Not a STREAM'],
  [92, 'ETIME', 'STREAM ioctl timeout'],
  [93, 'ENOATTR', 'Attribute not found'],
  [94, 'EMULTIHOP', 'Multihop attempted'],
  [95, 'ENOLINK', 'Link has been severed'],
  [96, 'EPROTO', 'Protocol error'],
  [97, 'EOWNERDEAD', 'Previous owner died'],
  [98, 'ENOTRECOVERABLE', 'State not recoverable'],
];

const byNumber = new Map<number, ErrnoInfo>();
const byCode = new Map<string, ErrnoInfo>();
for (const [errno, code, description] of NETBSD_ERRNO) {
  const info = { errno, code, description };
  byNumber.set(errno, info);
  byCode.set(code, info);
}
// EWOULDBLOCK is defined as EAGAIN in NetBSD's header; ENOTSUP (86) is its own number there.
byCode.set('EWOULDBLOCK', byCode.get('EAGAIN')!);

/** A NetBSD errno (positive or negative) → name and strerror text. Unknown numbers get `E<n>`. */
export function netbsdErrnoInfo(errno: number): ErrnoInfo {
  const n = Math.abs(errno);
  return byNumber.get(n) ?? { errno: n, code: `E${n}`, description: `Unknown error: ${n}` };
}

/** The positive NetBSD errno for a name ('EAGAIN' → 35), or undefined. */
export function netbsdErrnoNumber(code: string): number | undefined {
  return byCode.get(code)?.errno;
}
