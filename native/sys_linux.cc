// Linux: init_module(2), finit_module(2), delete_module(2) through syscall(2), since glibc has no
// wrappers for them.
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "sys.h"

namespace kernmod {
namespace sys {

const char* const kSystem = "linux";
// MODULE_NAME_LEN is not in the uapi headers: it is MAX_PARAM_PREFIX_LEN = 64 - sizeof(unsigned long)
// (include/linux/module.h, moduleparam.h), i.e. 56 on 64-bit and 60 on 32-bit, including the NUL.
const int kModuleNameLen = 64 - static_cast<int>(sizeof(unsigned long));
const int kOTrunc = O_TRUNC;
const int kONonblock = O_NONBLOCK;

namespace {
inline int64_t Result(long ret) { return ret < 0 ? -static_cast<int64_t>(errno) : ret; }
}  // namespace

int64_t InitModule(const void* image, size_t length, const char* params) {
  long ret = syscall(SYS_init_module, image, static_cast<unsigned long>(length), params);
  return Result(ret);
}

int64_t FinitModule(int fd, const char* params, int flags) {
  long ret = syscall(SYS_finit_module, fd, params, flags);
  return Result(ret);
}

PathResult FinitModulePath(const char* path, const char* params, int flags, HeadGuard* guard) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return {-static_cast<int64_t>(errno), 0};
  if (guard != nullptr && guard->length > 0) {
    // pread leaves the file offset alone; finit_module reads from offset 0 regardless.
    ssize_t n;
    do n = pread(fd, guard->head, guard->length, 0);
    while (n < 0 && errno == EINTR);
    if (n < 0) {
      int64_t err = -static_cast<int64_t>(errno);
      close(fd);
      return {err, 3};
    }
    guard->got = static_cast<size_t>(n);
    if (guard->Matches()) {
      close(fd);
      return {0, 2};
    }
  }
  long ret = syscall(SYS_finit_module, fd, params, flags);
  int64_t result = Result(ret);  // read errno before close() can change it
  close(fd);
  return {result, 1};
}

int64_t DeleteModule(const char* name, int flags) {
  long ret = syscall(SYS_delete_module, name, static_cast<unsigned int>(flags));
  return Result(ret);
}

#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
// glibc 2.32+: thread-safe, untranslated name and description.
const char* ErrnoName(int e) { return strerrorname_np(e); }
const char* ErrnoDescription(int e) { return strerrordesc_np(e); }
#else
}  // namespace sys
}  // namespace kernmod
#include "errno_names.h"
namespace kernmod {
namespace sys {
const char* ErrnoName(int e) { return errno_names::Name(e); }
const char* ErrnoDescription(int e) { return errno_names::Name(e) ? strerror(e) : nullptr; }
#endif

}  // namespace sys
}  // namespace kernmod
