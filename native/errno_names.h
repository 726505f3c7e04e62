// errno names for C libraries without strerrorname_np (musl, the BSDs, older glibc). Each name is
// listed only where the system defines it; the first name wins where two share a number
// (EAGAIN/EWOULDBLOCK, EOPNOTSUPP/ENOTSUP on Linux).
#pragma once
#include <cerrno>

namespace kernmod {
namespace errno_names {

inline const char* Name(int e) {
  switch (e) {
#if defined(EPERM)
    case EPERM: return "EPERM";
#endif
#if defined(ENOENT)
    case ENOENT: return "ENOENT";
#endif
#if defined(ESRCH)
    case ESRCH: return "ESRCH";
#endif
#if defined(EINTR)
    case EINTR: return "EINTR";
#endif
#if defined(EIO)
    case EIO: return "EIO";
#endif
#if defined(ENXIO)
    case ENXIO: return "ENXIO";
#endif
#if defined(E2BIG)
    case E2BIG: return "E2BIG";
#endif
#if defined(ENOEXEC)
    case ENOEXEC: return "ENOEXEC";
#endif
#if defined(EBADF)
    case EBADF: return "EBADF";
#endif
#if defined(ECHILD)
    case ECHILD: return "ECHILD";
#endif
#if defined(EAGAIN)
    case EAGAIN: return "EAGAIN";
#endif
#if defined(ENOMEM)
    case ENOMEM: return "ENOMEM";
#endif
#if defined(EACCES)
    case EACCES: return "EACCES";
#endif
#if defined(EFAULT)
    case EFAULT: return "EFAULT";
#endif
#if defined(ENOTBLK)
    case ENOTBLK: return "ENOTBLK";
#endif
#if defined(EBUSY)
    case EBUSY: return "EBUSY";
#endif
#if defined(EEXIST)
    case EEXIST: return "EEXIST";
#endif
#if defined(EXDEV)
    case EXDEV: return "EXDEV";
#endif
#if defined(ENODEV)
    case ENODEV: return "ENODEV";
#endif
#if defined(ENOTDIR)
    case ENOTDIR: return "ENOTDIR";
#endif
#if defined(EISDIR)
    case EISDIR: return "EISDIR";
#endif
#if defined(EINVAL)
    case EINVAL: return "EINVAL";
#endif
#if defined(ENFILE)
    case ENFILE: return "ENFILE";
#endif
#if defined(EMFILE)
    case EMFILE: return "EMFILE";
#endif
#if defined(ENOTTY)
    case ENOTTY: return "ENOTTY";
#endif
#if defined(ETXTBSY)
    case ETXTBSY: return "ETXTBSY";
#endif
#if defined(EFBIG)
    case EFBIG: return "EFBIG";
#endif
#if defined(ENOSPC)
    case ENOSPC: return "ENOSPC";
#endif
#if defined(ESPIPE)
    case ESPIPE: return "ESPIPE";
#endif
#if defined(EROFS)
    case EROFS: return "EROFS";
#endif
#if defined(EMLINK)
    case EMLINK: return "EMLINK";
#endif
#if defined(EPIPE)
    case EPIPE: return "EPIPE";
#endif
#if defined(EDOM)
    case EDOM: return "EDOM";
#endif
#if defined(ERANGE)
    case ERANGE: return "ERANGE";
#endif
#if defined(EDEADLK)
    case EDEADLK: return "EDEADLK";
#endif
#if defined(ENAMETOOLONG)
    case ENAMETOOLONG: return "ENAMETOOLONG";
#endif
#if defined(ENOLCK)
    case ENOLCK: return "ENOLCK";
#endif
#if defined(ENOSYS)
    case ENOSYS: return "ENOSYS";
#endif
#if defined(ENOTEMPTY)
    case ENOTEMPTY: return "ENOTEMPTY";
#endif
#if defined(ELOOP)
    case ELOOP: return "ELOOP";
#endif
#if defined(ENOMSG)
    case ENOMSG: return "ENOMSG";
#endif
#if defined(EIDRM)
    case EIDRM: return "EIDRM";
#endif
#if defined(ENOSTR)
    case ENOSTR: return "ENOSTR";
#endif
#if defined(ENODATA)
    case ENODATA: return "ENODATA";
#endif
#if defined(ETIME)
    case ETIME: return "ETIME";
#endif
#if defined(ENOSR)
    case ENOSR: return "ENOSR";
#endif
#if defined(EREMOTE)
    case EREMOTE: return "EREMOTE";
#endif
#if defined(ENOLINK)
    case ENOLINK: return "ENOLINK";
#endif
#if defined(EPROTO)
    case EPROTO: return "EPROTO";
#endif
#if defined(EMULTIHOP)
    case EMULTIHOP: return "EMULTIHOP";
#endif
#if defined(EBADMSG)
    case EBADMSG: return "EBADMSG";
#endif
#if defined(EOVERFLOW)
    case EOVERFLOW: return "EOVERFLOW";
#endif
#if defined(EILSEQ)
    case EILSEQ: return "EILSEQ";
#endif
#if defined(EUSERS)
    case EUSERS: return "EUSERS";
#endif
#if defined(ENOTSOCK)
    case ENOTSOCK: return "ENOTSOCK";
#endif
#if defined(EDESTADDRREQ)
    case EDESTADDRREQ: return "EDESTADDRREQ";
#endif
#if defined(EMSGSIZE)
    case EMSGSIZE: return "EMSGSIZE";
#endif
#if defined(EPROTOTYPE)
    case EPROTOTYPE: return "EPROTOTYPE";
#endif
#if defined(ENOPROTOOPT)
    case ENOPROTOOPT: return "ENOPROTOOPT";
#endif
#if defined(EPROTONOSUPPORT)
    case EPROTONOSUPPORT: return "EPROTONOSUPPORT";
#endif
#if defined(ESOCKTNOSUPPORT)
    case ESOCKTNOSUPPORT: return "ESOCKTNOSUPPORT";
#endif
#if defined(EOPNOTSUPP)
    case EOPNOTSUPP: return "EOPNOTSUPP";
#endif
#if defined(EPFNOSUPPORT)
    case EPFNOSUPPORT: return "EPFNOSUPPORT";
#endif
#if defined(EAFNOSUPPORT)
    case EAFNOSUPPORT: return "EAFNOSUPPORT";
#endif
#if defined(EADDRINUSE)
    case EADDRINUSE: return "EADDRINUSE";
#endif
#if defined(EADDRNOTAVAIL)
    case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
#endif
#if defined(ENETDOWN)
    case ENETDOWN: return "ENETDOWN";
#endif
#if defined(ENETUNREACH)
    case ENETUNREACH: return "ENETUNREACH";
#endif
#if defined(ENETRESET)
    case ENETRESET: return "ENETRESET";
#endif
#if defined(ECONNABORTED)
    case ECONNABORTED: return "ECONNABORTED";
#endif
#if defined(ECONNRESET)
    case ECONNRESET: return "ECONNRESET";
#endif
#if defined(ENOBUFS)
    case ENOBUFS: return "ENOBUFS";
#endif
#if defined(EISCONN)
    case EISCONN: return "EISCONN";
#endif
#if defined(ENOTCONN)
    case ENOTCONN: return "ENOTCONN";
#endif
#if defined(ESHUTDOWN)
    case ESHUTDOWN: return "ESHUTDOWN";
#endif
#if defined(ETOOMANYREFS)
    case ETOOMANYREFS: return "ETOOMANYREFS";
#endif
#if defined(ETIMEDOUT)
    case ETIMEDOUT: return "ETIMEDOUT";
#endif
#if defined(ECONNREFUSED)
    case ECONNREFUSED: return "ECONNREFUSED";
#endif
#if defined(EHOSTDOWN)
    case EHOSTDOWN: return "EHOSTDOWN";
#endif
#if defined(EHOSTUNREACH)
    case EHOSTUNREACH: return "EHOSTUNREACH";
#endif
#if defined(EALREADY)
    case EALREADY: return "EALREADY";
#endif
#if defined(EINPROGRESS)
    case EINPROGRESS: return "EINPROGRESS";
#endif
#if defined(ESTALE)
    case ESTALE: return "ESTALE";
#endif
#if defined(EDQUOT)
    case EDQUOT: return "EDQUOT";
#endif
#if defined(ECANCELED)
    case ECANCELED: return "ECANCELED";
#endif
#if defined(EOWNERDEAD)
    case EOWNERDEAD: return "EOWNERDEAD";
#endif
#if defined(ENOTRECOVERABLE)
    case ENOTRECOVERABLE: return "ENOTRECOVERABLE";
#endif
#if defined(ENOKEY)
    case ENOKEY: return "ENOKEY";
#endif
#if defined(EKEYEXPIRED)
    case EKEYEXPIRED: return "EKEYEXPIRED";
#endif
#if defined(EKEYREVOKED)
    case EKEYREVOKED: return "EKEYREVOKED";
#endif
#if defined(EKEYREJECTED)
    case EKEYREJECTED: return "EKEYREJECTED";
#endif
#if defined(ENOPKG)
    case ENOPKG: return "ENOPKG";
#endif
#if defined(EPROCLIM)
    case EPROCLIM: return "EPROCLIM";
#endif
#if defined(EBADRPC)
    case EBADRPC: return "EBADRPC";
#endif
#if defined(ERPCMISMATCH)
    case ERPCMISMATCH: return "ERPCMISMATCH";
#endif
#if defined(EPROGUNAVAIL)
    case EPROGUNAVAIL: return "EPROGUNAVAIL";
#endif
#if defined(EPROGMISMATCH)
    case EPROGMISMATCH: return "EPROGMISMATCH";
#endif
#if defined(EPROCUNAVAIL)
    case EPROCUNAVAIL: return "EPROCUNAVAIL";
#endif
#if defined(EFTYPE)
    case EFTYPE: return "EFTYPE";
#endif
#if defined(EAUTH)
    case EAUTH: return "EAUTH";
#endif
#if defined(ENEEDAUTH)
    case ENEEDAUTH: return "ENEEDAUTH";
#endif
#if defined(ENOATTR)
    case ENOATTR: return "ENOATTR";
#endif
#if defined(ENOTSUP)
#if !defined(EOPNOTSUPP) || EOPNOTSUPP != ENOTSUP
    case ENOTSUP: return "ENOTSUP";
#endif
#endif
    default: return nullptr;
  }
}

}  // namespace errno_names
}  // namespace kernmod
