// The system-specific half of the native layer: one implementation per OS (sys_linux.cc, sys_netbsd.cc,
// sys_other.cc). Every function returns the call's result or -errno, with errno read on the calling
// thread right after the system call.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>
#if defined(KERNMOD_MODCTL)
#include <cstdlib>
#include <memory>
#endif

namespace kernmod {
namespace sys {

extern const char* const kSystem;  // "linux", or the OS name for the ENOSYS build
extern const int kModuleNameLen;   // the kernel's MODULE_NAME_LEN (64 - sizeof(unsigned long) on Linux)
extern const int kOTrunc;          // delete_module's "force" flag
extern const int kONonblock;       // delete_module's "don't wait" flag

struct PathResult {
  int64_t ret;  // -errno of the failed stage, or finit_module's result (0 when the guard stopped)
  int stage;    // 0: open(2) or fstat(2) failed; 1: finit_module ran; 2: the guard stopped it;
                // 3: pread(2) failed (-EISDIR for a directory); 4: not a regular file (ret -EINVAL)
};

// Lets FinitModulePath look at the file's first bytes, on the fd it is about to load, and stop before
// finit_module when they begin with one of `prefixes`. TypeScript passes the compression magics (it
// owns that table and every decision about them), so an uncompressed module costs one open, not two.
constexpr size_t kMaxGuardHead = 16;
struct HeadGuard {
  std::vector<std::string> prefixes;
  size_t length = 0;  // bytes to read: the longest prefix
  unsigned char head[kMaxGuardHead] = {};
  size_t got = 0;  // bytes actually read (short at end of file)

  bool Matches() const {
    for (const auto& p : prefixes) {
      if (!p.empty() && p.size() <= got && std::memcmp(head, p.data(), p.size()) == 0) return true;
    }
    return false;
  }
};

// finit_module of bytes with no file: memfd_create("kernmod", MFD_CLOEXEC), write the whole image (short
// writes and EINTR resumed), finit_module on that fd, close on every path. `stage` names the call that
// produced `ret`.
constexpr int kImageMemfd = 0;
constexpr int kImageWrite = 1;
constexpr int kImageFinit = 2;
struct ImageResult {
  int64_t ret;  // -errno of the failed stage, or finit_module's result
  int stage;    // kImageMemfd, kImageWrite or kImageFinit
};

// What the Linux calls answer where there are none (sys_other.cc, sys_netbsd.cc): Linux's -ENOSYS, whatever
// the host's ENOSYS is, since TypeScript reads every result of these calls with Linux's errno table.
constexpr int64_t kNoLinuxCall = -38;

int64_t InitModule(const void* image, size_t length, const char* params);
int64_t FinitModule(int fd, const char* params, int flags);
// `guard` may be null: open, finit_module, close.
PathResult FinitModulePath(const char* path, const char* params, int flags, HeadGuard* guard);
ImageResult FinitModuleImage(const void* image, size_t length, const char* params, int flags);
int64_t DeleteModule(const char* name, int flags);

// The CPUs this process may use: its affinity mask, and on Linux a cgroup v2 CPU quota (cpu.max) below
// that, rounded down; at least 1.
int UsableCpus();

#if defined(KERNMOD_MODCTL)
// NetBSD modctl(2): compiled only into sys_netbsd.cc (binding.gyp defines KERNMOD_MODCTL on NetBSD).
extern const int kMaxModName;       // MAXMODNAME (32, with the NUL)
extern const int kModctlLoadForce;  // MODCTL_LOAD_FORCE
extern const int kModctlNoProp;     // MODCTL_NO_PROP

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};

struct StatResult {
  int64_t ret = 0;                             // 0, or -errno of the command below
  int command = 4;                             // 4: MODCTL_STAT (NetBSD 9.0+); 2: the old MODCTL_STAT (5.0-8.x) / MODCTL_OSTAT
  std::unique_ptr<uint8_t, FreeDeleter> data;  // the answer, exactly `length` bytes (the reported iov_len)
  size_t length = 0;
};

// MODCTL_LOAD: ml_props is always a plist; an empty or null `props` sends the empty-dictionary plist.
int64_t ModctlLoad(const char* filename, int flags, const char* props);
int64_t ModctlUnload(const char* name);
// MODCTL_STAT: command 4, then 2 after EINVAL; grows the buffer until the kernel's answer fits.
StatResult ModctlStat();
// MODCTL_EXISTS with `which` (0: may this caller load; 1: may the system autoload) as the argument itself.
int64_t ModctlExists(int which);
#endif

}  // namespace sys
}  // namespace kernmod
