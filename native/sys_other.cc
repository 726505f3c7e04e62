// Any other system: the addon builds (so `npm install` never breaks) and every call answers ENOSYS,
// which TypeScript reports as "this kernel has no module support kernmod knows how to use".
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <thread>

#include "errno_names.h"
#include "sys.h"

namespace kernmod {
namespace sys {

#if defined(__APPLE__)
const char* const kSystem = "darwin";
#elif defined(__FreeBSD__)
const char* const kSystem = "freebsd";
#elif defined(__OpenBSD__)
const char* const kSystem = "openbsd";
#elif defined(__NetBSD__)
const char* const kSystem = "netbsd";
#else
const char* const kSystem = "unknown";
#endif
const int kModuleNameLen = 0;
const int kOTrunc = 0;
const int kONonblock = 0;

int64_t InitModule(const void*, size_t, const char*) { return -ENOSYS; }
int64_t FinitModule(int, const char*, int) { return -ENOSYS; }
PathResult FinitModulePath(const char*, const char*, int, HeadGuard*) { return {-ENOSYS, 1}; }
ImageResult FinitModuleImage(const void*, size_t, const char*, int) { return {-ENOSYS, kImageFinit}; }
int64_t DeleteModule(const char*, int) { return -ENOSYS; }
int UsableCpus() { return std::max(1u, std::thread::hardware_concurrency()); }

const char* ErrnoName(int e) { return errno_names::Name(e); }
const char* ErrnoDescription(int e) { return errno_names::Name(e) ? strerror(e) : nullptr; }

}  // namespace sys
}  // namespace kernmod
