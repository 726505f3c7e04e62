// The system-specific half of the native layer: one implementation per OS (sys_linux.cc, sys_other.cc).
// Every function returns the call's result or -errno, with errno read on the calling thread right after
// the system call.
#pragma once
#include <cstddef>
#include <cstdint>

namespace kernmod {
namespace sys {

extern const char* const kSystem;  // "linux", or the OS name for the ENOSYS build
extern const int kModuleNameLen;   // the kernel's MODULE_NAME_LEN (64 - sizeof(unsigned long) on Linux)
extern const int kOTrunc;          // delete_module's "force" flag
extern const int kONonblock;       // delete_module's "don't wait" flag

struct PathResult {
  int64_t ret;  // -errno of the failed stage, or finit_module's result
  int stage;    // 0: open(2) failed; 1: finit_module ran
};

int64_t InitModule(const void* image, size_t length, const char* params);
int64_t FinitModule(int fd, const char* params, int flags);
PathResult FinitModulePath(const char* path, const char* params, int flags);
int64_t DeleteModule(const char* name, int flags);

// Name ("EEXIST") and description of an errno, or nullptr when the C library does not know it.
const char* ErrnoName(int e);
const char* ErrnoDescription(int e);

}  // namespace sys
}  // namespace kernmod
