// Any other system: the addon builds (so `npm install` never breaks) and every call answers ENOSYS,
// which TypeScript reports as "this kernel has no module support kernmod knows how to use".
#include <algorithm>
#include <thread>

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

int64_t InitModule(const void*, size_t, const char*) { return kNoLinuxCall; }
int64_t FinitModule(int, const char*, int) { return kNoLinuxCall; }
PathResult FinitModulePath(const char*, const char*, int, HeadGuard*) { return {kNoLinuxCall, 1}; }
ImageResult FinitModuleImage(const void*, size_t, const char*, int) { return {kNoLinuxCall, kImageFinit}; }
int64_t DeleteModule(const char*, int) { return kNoLinuxCall; }
int UsableCpus() { return std::max(1u, std::thread::hardware_concurrency()); }

}  // namespace sys
}  // namespace kernmod
