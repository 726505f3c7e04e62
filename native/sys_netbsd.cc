// NetBSD: modctl(2) — MODCTL_LOAD, MODCTL_UNLOAD, MODCTL_STAT (both formats) and MODCTL_EXISTS.
// The Linux calls answer ENOSYS here, as in sys_other.cc. Compiled only on NetBSD (binding.gyp); the
// unit suite compiles it on Linux against test/native-stubs/netbsd, a copy of the userland part of
// NetBSD's <sys/module.h>, and runs it against a simulated modctl() there.
//
// ABI facts (shared research/netbsd-anchors.md; sys/sys/module.h 1.48, sys/kern/sys_module.c):
//  - int modctl(int cmd, void *arg): -1 and errno on failure; nothing useful in the return value.
//  - Command numbers: LOAD 0, UNLOAD 1, EXISTS 3 (7.0+), STAT 4 (9.0+). Before 9.0 STAT was 2; on 9.0+
//    2 is MODCTL_OSTAT and answers only with the compat_80 module. The header's enum says 2 or 4
//    depending on the release it comes from, so the numbers are written out here.
//  - modctl_load_t {ml_filename, ml_flags, ml_props, ml_propslen} is unchanged since 5.0. ml_props must
//    be a NUL-terminated plist with ml_propslen = strlen(ml_props) (the kernel copies propslen + 1 bytes);
//    5.x kernels copy it in without a NULL check, so a plist is always sent, as modload(8) does.
//  - MODCTL_STAT takes a struct iovec: the kernel writes at most iov_len bytes, then sets iov_len to the
//    full size of its answer. A zero-length probe is refused with EPERM for non-root on 9.0+, so the first
//    buffer is never empty (8192 bytes, like modstat(8)).
//  - MODCTL_EXISTS takes 0 or 1 as the pointer value itself, not a pointer to it.
#include <sys/types.h>
#include <sys/param.h>
#include <sys/uio.h>
#include <stdint.h>
// NetBSD's <sys/module.h> declares modctl() without __BEGIN_DECLS, so C++ must give it C linkage. The
// headers it includes are included above first, so only module.h's own declarations are in this block.
extern "C" {
#include <sys/module.h>
}

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <initializer_list>

#include "sys.h"

namespace kernmod {
namespace sys {

const char* const kSystem = "netbsd";
const int kModuleNameLen = MAXMODNAME;
const int kOTrunc = 0;
const int kONonblock = 0;
const int kMaxModName = MAXMODNAME;
const int kModctlLoadForce = MODCTL_LOAD_FORCE;
const int kModctlNoProp = MODCTL_NO_PROP;

// ---- the Linux module calls do not exist here ---------------------------------------------------------

int64_t InitModule(const void*, size_t, const char*) { return kNoLinuxCall; }
int64_t FinitModule(int, const char*, int) { return kNoLinuxCall; }
PathResult FinitModulePath(const char*, const char*, int, HeadGuard*) { return {kNoLinuxCall, 1}; }
ImageResult FinitModuleImage(const void*, size_t, const char*, int) { return {kNoLinuxCall, kImageFinit}; }
int64_t DeleteModule(const char*, int) { return kNoLinuxCall; }
int UsableCpus() { return std::max(1u, std::thread::hardware_concurrency()); }

// ---- modctl(2) ----------------------------------------------------------------------------------------

namespace {

constexpr int kCmdLoad = 0;
constexpr int kCmdUnload = 1;
constexpr int kCmdOldStat = 2;  // MODCTL_STAT on 5.0-8.x, MODCTL_OSTAT on 9.0+
constexpr int kCmdExists = 3;
constexpr int kCmdStat = 4;  // MODCTL_STAT on 9.0+

static_assert(MODCTL_LOAD == kCmdLoad && MODCTL_UNLOAD == kCmdUnload, "modctl command numbers");
static_assert(MODCTL_LOAD_FORCE == 0x1 && MODCTL_NO_PROP == 0x2, "modctl_load_t flags");

// What prop_dictionary_externalize() gives for an empty dictionary: what modload sends without -b/-i/-s.
constexpr char kEmptyProps[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<!DOCTYPE plist PUBLIC \"-//Apple Computer//DTD PLIST 1.0//EN\" "
    "\"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n"
    "<plist version=\"1.0\">\n<dict/>\n</plist>\n";

constexpr size_t kInitialStatBytes = 8192;
// The answer grows only when modules are loaded between two calls; give up (EAGAIN) if it keeps growing.
constexpr int kMaxStatTries = 32;

inline int64_t Result(int ret) { return ret < 0 ? -static_cast<int64_t>(errno) : ret; }

}  // namespace

int64_t ModctlLoad(const char* filename, int flags, const char* props) {
  if (props == nullptr || props[0] == '\0') props = kEmptyProps;
  modctl_load_t ml;
  std::memset(&ml, 0, sizeof ml);
  ml.ml_filename = filename;
  ml.ml_flags = flags;
  ml.ml_props = props;
  ml.ml_propslen = std::strlen(props);
  return Result(modctl(kCmdLoad, &ml));
}

int64_t ModctlUnload(const char* name) {
  // The kernel only reads the name (copyinstr); the prototype takes a void *.
  return Result(modctl(kCmdUnload, const_cast<char*>(name)));
}

int64_t ModctlExists(int which) { return Result(modctl(kCmdExists, reinterpret_cast<void*>(static_cast<uintptr_t>(which)))); }

StatResult ModctlStat() {
  StatResult r;
  for (int command : {kCmdStat, kCmdOldStat}) {
    r.command = command;
    size_t len = kInitialStatBytes;
    for (int tries = 0;; tries++) {
      if (tries == kMaxStatTries) {
        r.ret = -EAGAIN;
        r.data.reset();
        r.length = 0;
        return r;
      }
      void* grown = std::realloc(r.data.get(), len);
      if (grown == nullptr) {
        r.ret = -ENOMEM;
        r.data.reset();
        r.length = 0;
        return r;
      }
      r.data.release();
      r.data.reset(static_cast<uint8_t*>(grown));
      std::memset(grown, 0, len);
      struct iovec iov;
      iov.iov_base = grown;
      iov.iov_len = len;
      if (modctl(command, &iov) < 0) {
        r.ret = -static_cast<int64_t>(errno);
        break;
      }
      if (iov.iov_len <= len) {  // all of it fit: iov_len is now the answer's size
        r.ret = 0;
        r.length = iov.iov_len;
        return r;
      }
      len = iov.iov_len;  // the kernel said how much it has; ask again with that much room
    }
    r.data.reset();
    r.length = 0;
    // EINVAL is how a kernel says it does not know the command: 4 before 9.0, then try the old 2.
    if (r.ret != -EINVAL) return r;
  }
  return r;
}

}  // namespace sys
}  // namespace kernmod
