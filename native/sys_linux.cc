// Linux: init_module(2), finit_module(2), delete_module(2) through syscall(2), since glibc has no
// wrappers for them.
#include <fcntl.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <string>

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

#if defined(KERNMOD_SANITIZE_READS)
// The sanitizer build only (scripts/test-sanitizers.mjs): reads the image in user space first, as the
// kernel's copy of it will, so that AddressSanitizer reports a call made with memory that is no longer
// the call's (on a host without module support the kernel answers without reading it).
void ReadAsTheKernelWill(const void* image, size_t length) {
  auto* p = static_cast<const volatile unsigned char*>(image);
  unsigned char sum = 0;
  for (size_t i = 0; i < length; i++) sum = static_cast<unsigned char>(sum + p[i]);
  __asm__ volatile("" : : "r"(sum));  // the sum is "used": the reads stay
}
#else
inline void ReadAsTheKernelWill(const void*, size_t) {}
#endif
}  // namespace

int64_t InitModule(const void* image, size_t length, const char* params) {
  ReadAsTheKernelWill(image, length);
  long ret = syscall(SYS_init_module, image, static_cast<unsigned long>(length), params);
  return Result(ret);
}

int64_t FinitModule(int fd, const char* params, int flags) {
  long ret = syscall(SYS_finit_module, fd, params, flags);
  return Result(ret);
}

// The path is the caller's: opened without blocking (a FIFO would wait for a writer, on a syscall or
// pool thread, forever) and without becoming a controlling terminal, then loaded only when it is a
// regular file. A directory is EISDIR, as the read of it would say; any other file that is not regular
// is refused with the EINVAL finit_module would give it, before the kernel is asked. O_NONBLOCK has no
// effect on reads of a regular file, so the kernel reads the module as from kmod's plain open.
PathResult FinitModulePath(const char* path, const char* params, int flags, HeadGuard* guard) {
  int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) return {-static_cast<int64_t>(errno), 0};
  struct stat st;
  PathResult refused{0, 1};
  if (fstat(fd, &st) != 0)
    refused = {-static_cast<int64_t>(errno), 0};
  else if (S_ISDIR(st.st_mode))
    refused = {-EISDIR, 3};
  else if (!S_ISREG(st.st_mode))
    refused = {-EINVAL, 4};
  if (refused.ret != 0) {
    close(fd);
    return refused;
  }
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

ImageResult FinitModuleImage(const void* image, size_t length, const char* params, int flags) {
  ReadAsTheKernelWill(image, length);
  // Through syscall(2): glibc has memfd_create only since 2.27.
  int fd = static_cast<int>(syscall(SYS_memfd_create, "kernmod", MFD_CLOEXEC));
  if (fd < 0) return {-static_cast<int64_t>(errno), kImageMemfd};
  auto* p = static_cast<const char*>(image);
  for (size_t done = 0; done < length;) {
    ssize_t n = write(fd, p + done, length - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {  // 0: no progress on a memory file means no space left
      int64_t err = n < 0 ? -static_cast<int64_t>(errno) : -ENOSPC;
      close(fd);
      return {err, kImageWrite};
    }
    done += static_cast<size_t>(n);
  }
  int64_t result = Result(syscall(SYS_finit_module, fd, params, flags));  // errno before close()
  close(fd);
  return {result, kImageFinit};
}

namespace {
// The first two whitespace-separated words of a small file, or false.
bool ReadWords(const std::string& file, char (&a)[32], char (&b)[32]) {
  std::FILE* f = std::fopen(file.c_str(), "re");
  if (f == nullptr) return false;
  int got = std::fscanf(f, "%31s %31s", a, b);
  std::fclose(f);
  return got >= 1;
}

// A CPU quota over a period, in whole CPUs (at least 1), or -1 when there is none ("max", -1).
int QuotaCpus(const char* quota, const char* period) {
  long long q = std::atoll(quota), p = std::atoll(period);
  return q > 0 && p > 0 ? static_cast<int>(std::max(1LL, q / p)) : -1;
}

// The quota of the cgroup `path` and of each one above it, the smallest: cgroup v2 keeps it in
// cpu.max ("<quota> <period>" or "max <period>"), v1 in cpu.cfs_quota_us and cpu.cfs_period_us.
int CgroupCpus(std::string path, bool v2) {
  int cpus = -1;
  for (;;) {
    std::string dir = (v2 ? "/sys/fs/cgroup" : "/sys/fs/cgroup/cpu") + (path == "/" ? std::string() : path);
    char a[32] = {}, b[32] = {}, c[32] = {};
    int q = -1;
    if (v2 && ReadWords(dir + "/cpu.max", a, b)) q = QuotaCpus(a, b);
    if (!v2 && ReadWords(dir + "/cpu.cfs_quota_us", a, c) && ReadWords(dir + "/cpu.cfs_period_us", b, c)) q = QuotaCpus(a, b);
    if (q > 0) cpus = cpus < 0 ? q : std::min(cpus, q);
    size_t slash = path.rfind('/');
    if (path == "/" || slash == std::string::npos) return cpus;
    path = slash == 0 ? "/" : path.substr(0, slash);
  }
}
}  // namespace

int UsableCpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  // More CPUs than a cpu_set_t holds (EINVAL) is plenty.
  int cpus = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : CPU_SETSIZE;
  // The process's cgroups, from /proc/self/cgroup: "0::/path" (v2), "N:cpu,cpuacct:/path" (v1).
  std::FILE* f = std::fopen("/proc/self/cgroup", "re");
  if (f == nullptr) return std::max(1, cpus);
  char line[4096];
  while (std::fgets(line, sizeof line, f) != nullptr) {
    std::string l(line);
    while (!l.empty() && l.back() == '\n') l.pop_back();
    size_t c1 = l.find(':'), c2 = c1 == std::string::npos ? c1 : l.find(':', c1 + 1);
    if (c2 == std::string::npos || l.compare(c2 + 1, 1, "/") != 0) continue;
    std::string controllers = "," + l.substr(c1 + 1, c2 - c1 - 1) + ",";
    bool v2 = l.compare(0, c2 + 1, "0::") == 0;
    if (!v2 && controllers.find(",cpu,") == std::string::npos) continue;
    int q = CgroupCpus(l.substr(c2 + 1), v2);
    if (q > 0) cpus = std::min(cpus, q);
  }
  std::fclose(f);
  return std::max(1, cpus);
}

int64_t DeleteModule(const char* name, int flags) {
  long ret = syscall(SYS_delete_module, name, static_cast<unsigned int>(flags));
  return Result(ret);
}

}  // namespace sys
}  // namespace kernmod
