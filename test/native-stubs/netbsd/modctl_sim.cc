// Runs native/sys_netbsd.cc on a non-NetBSD host against a SIMULATED modctl(2) defined here, to check
// what the C++ layer passes to the kernel and how it handles the kernel's answers: the modctl_load_t it
// fills (always a plist), the integer argument of MODCTL_EXISTS, the MODCTL_STAT buffer loop (non-zero
// first buffer, growth to the reported iov_len, retries while modules appear, command 4 then 2 on
// EINVAL only, EAGAIN when it never fits). The simulation follows sys_module.c as documented in
// shared/research/netbsd-anchors.md §2; it is not a kernel. Errno values are the host's here: the
// layer under test only passes them through.
//
// Built and run by test/unit/netbsd-native.test.ts:
//   g++ -std=c++17 -DKERNMOD_MODCTL=1 -I test/native-stubs/netbsd -I native
//       native/sys_netbsd.cc test/native-stubs/netbsd/modctl_sim.cc -o modctl_sim && ./modctl_sim
#include <sys/uio.h>
extern "C" {
#include <sys/module.h>
}

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "sys.h"

// The stub's structs have the documented layouts (research §1.4 and §0): modstat_t is the 9.0+ 64-byte
// record; modctl_load_t is 32 bytes on LP64 (offsets 0/8/16/24) and 16 on ILP32 (0/4/8/12).
#include <cstddef>
static_assert(sizeof(modstat_t) == 64, "modstat_t is 64 bytes");
static_assert(offsetof(modstat_t, ms_addr) == 32 && offsetof(modstat_t, ms_source) == 40 &&
                  offsetof(modstat_t, ms_class) == 44 && offsetof(modstat_t, ms_size) == 48 &&
                  offsetof(modstat_t, ms_refcnt) == 52 && offsetof(modstat_t, ms_flags) == 56 &&
                  offsetof(modstat_t, ms_reqoffset) == 60,
              "modstat_t offsets");
static_assert(offsetof(modctl_load_t, ml_flags) == sizeof(void*) && offsetof(modctl_load_t, ml_props) == 2 * sizeof(void*) &&
                  offsetof(modctl_load_t, ml_propslen) == 3 * sizeof(void*) && sizeof(modctl_load_t) == 4 * sizeof(void*),
              "modctl_load_t layout");
static_assert(MODCTL_LOAD == 0 && MODCTL_UNLOAD == 1 && MODCTL_OSTAT == 2 && MODCTL_EXISTS == 3 && MODCTL_STAT == 4,
              "9.0+ command numbers");
static_assert(MAXMODNAME == 32 && MAXMODDEPS == 10 && MODULE_CLASS_BUFQ == 6 && MODULE_SOURCE_FILESYS == 2, "constants");

namespace {

// ---- the simulated kernel -----------------------------------------------------------------------------

struct Sim {
  int release = 10;                 // < 9: command 4 is unknown (EINVAL); >= 9: command 2 needs compat80
  bool compat80 = false;
  size_t answer = 100;              // size of the full MODCTL_STAT answer
  size_t grow_per_call = 0;         // modules appearing between calls ...
  int grow_calls = 1 << 30;         // ... after each of the first grow_calls calls
  int fail_errno = 0;               // make the next LOAD/UNLOAD/EXISTS fail with this
  int stat_errno = 0;               // make MODCTL_STAT (command 4) fail with this
  // What the last calls saw.
  std::vector<int> commands;
  std::vector<size_t> iov_lens;
  std::string filename, props, unload_name;
  int flags = -1;
  size_t propslen = 0;
  bool props_null = false;
  uintptr_t exists_arg = 99;
};

Sim sim;

int Fail(int e) {
  errno = e;
  return -1;
}

// handle_modctl_stat: write min(answer, iov_len) bytes (a recognisable pattern), report the full size.
int Stat(int command, struct iovec* iov) {
  sim.iov_lens.push_back(iov->iov_len);
  if (command == 4 && sim.release < 9) return Fail(EINVAL);
  if (command == 2 && sim.release >= 9 && !sim.compat80) return Fail(EINVAL);
  if (command == 4 && sim.stat_errno != 0) return Fail(sim.stat_errno);
  size_t full = sim.answer;
  if (sim.grow_calls-- > 0) sim.answer += sim.grow_per_call;
  auto* out = static_cast<uint8_t*>(iov->iov_base);
  for (size_t i = 0; i < full && i < iov->iov_len; i++) out[i] = static_cast<uint8_t>((i * 7 + static_cast<size_t>(command)) & 0xff);
  iov->iov_len = full;
  return 0;
}

}  // namespace

extern "C" int modctl(int cmd, void* arg) {
  sim.commands.push_back(cmd);
  switch (cmd) {
    case 0: {
      if (sim.fail_errno) return Fail(sim.fail_errno);
      auto* ml = static_cast<modctl_load_t*>(arg);
      sim.filename = ml->ml_filename;
      sim.flags = ml->ml_flags;
      sim.props_null = ml->ml_props == nullptr;
      sim.props = ml->ml_props ? ml->ml_props : "";
      sim.propslen = ml->ml_propslen;
      return 0;
    }
    case 1:
      if (sim.fail_errno) return Fail(sim.fail_errno);
      sim.unload_name = static_cast<const char*>(arg);
      return 0;
    case 2:
    case 4:
      return Stat(cmd, static_cast<struct iovec*>(arg));
    case 3:
      sim.exists_arg = reinterpret_cast<uintptr_t>(arg);
      if (sim.fail_errno) return Fail(sim.fail_errno);
      return sim.exists_arg <= 1 ? 0 : Fail(EINVAL);
    default:
      return Fail(EINVAL);
  }
}

// ---- checks ---------------------------------------------------------------------------------------------

namespace {

int passed = 0, failed = 0;

void Check(bool ok, const char* what) {
  std::printf("%s - %s\n", ok ? "ok" : "not ok", what);
  (ok ? passed : failed)++;
}

void Reset() { sim = Sim(); }

bool PatternOk(const kernmod::sys::StatResult& r, int command) {
  for (size_t i = 0; i < r.length; i++) {
    if (r.data.get()[i] != static_cast<uint8_t>((i * 7 + static_cast<size_t>(command)) & 0xff)) return false;
  }
  return true;
}

}  // namespace

int main() {
  using namespace kernmod::sys;
  static const char kEmpty[] =
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<!DOCTYPE plist PUBLIC \"-//Apple Computer//DTD PLIST 1.0//EN\" "
      "\"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n"
      "<plist version=\"1.0\">\n<dict/>\n</plist>\n";

  Reset();
  const char* props = "<plist version=\"1.0\"><dict><key>a</key><true/></dict></plist>";
  Check(ModctlLoad("/stand/x/tmpfs.kmod", 3, props) == 0, "MODCTL_LOAD succeeds");
  Check(sim.commands.size() == 1 && sim.commands[0] == 0, "MODCTL_LOAD is command 0");
  Check(sim.filename == "/stand/x/tmpfs.kmod" && sim.flags == 3, "ml_filename and ml_flags are passed as given");
  Check(sim.props == props && sim.propslen == std::strlen(props), "ml_props is the plist, ml_propslen its strlen");

  Reset();
  ModctlLoad("tmpfs", 0, "");
  Check(!sim.props_null && sim.props == kEmpty && sim.propslen == 190, "no properties: the 190-byte empty-dictionary plist, never NULL");
  Reset();
  ModctlLoad("tmpfs", 0, nullptr);
  Check(!sim.props_null && sim.props == kEmpty, "a null props pointer also sends the empty plist");

  Reset();
  sim.fail_errno = EEXIST;
  Check(ModctlLoad("tmpfs", 0, "") == -EEXIST, "a refused load returns -errno");

  Reset();
  Check(ModctlUnload("tmpfs") == 0 && sim.unload_name == "tmpfs" && sim.commands[0] == 1, "MODCTL_UNLOAD (1) passes the name");
  sim.fail_errno = EBUSY;
  Check(ModctlUnload("tmpfs") == -EBUSY, "a refused unload returns -errno");

  Reset();
  Check(ModctlExists(0) == 0 && sim.exists_arg == 0 && sim.commands[0] == 3, "MODCTL_EXISTS (3) gets 0 as the argument itself");
  Check(ModctlExists(1) == 0 && sim.exists_arg == 1, "MODCTL_EXISTS gets 1 as the argument itself");
  sim.fail_errno = EPERM;
  Check(ModctlExists(0) == -EPERM, "a denied MODCTL_EXISTS returns -EPERM");

  // MODCTL_STAT on a 9.0+ kernel, answer smaller than the first buffer.
  Reset();
  sim.answer = 300;
  {
    StatResult r = ModctlStat();
    Check(r.ret == 0 && r.command == 4 && r.length == 300, "STAT: command 4 on 9.0+, exactly the reported length");
    Check(sim.iov_lens.size() == 1 && sim.iov_lens[0] == 8192, "STAT: the first buffer is 8192 bytes, never 0");
    Check(PatternOk(r, 4), "STAT: the bytes are the kernel's");
  }
  // Larger than the first buffer: grow to the reported size, ask again.
  Reset();
  sim.answer = 20000;
  {
    StatResult r = ModctlStat();
    Check(r.ret == 0 && r.length == 20000 && sim.iov_lens.size() == 2 && sim.iov_lens[1] == 20000, "STAT: grows to the reported iov_len and retries");
    Check(PatternOk(r, 4), "STAT: the grown answer is complete");
  }
  // Modules appear between calls: keep growing until it fits.
  Reset();
  sim.answer = 9000;
  sim.grow_per_call = 64;
  sim.grow_calls = 2;
  {
    StatResult r = ModctlStat();
    Check(r.ret == 0 && sim.iov_lens.size() == 4 && r.length == 9128 && sim.iov_lens[3] == 9128,
          "STAT: a list that grows between calls is retried until the report fits");
  }
  // Never fits: give up with EAGAIN.
  Reset();
  sim.answer = 9000;
  sim.grow_per_call = 100000;
  {
    StatResult r = ModctlStat();
    Check(r.ret == -EAGAIN && r.length == 0 && sim.iov_lens.size() == 32, "STAT: EAGAIN after 32 calls that never fit");
  }
  // NetBSD 8.x and older: command 4 is EINVAL, command 2 answers.
  Reset();
  sim.release = 8;
  sim.answer = 392 * 3;
  {
    StatResult r = ModctlStat();
    Check(r.ret == 0 && r.command == 2 && r.length == 392 * 3, "STAT: EINVAL from command 4 falls back to command 2");
    Check(sim.commands.size() == 2 && sim.commands[0] == 4 && sim.commands[1] == 2, "STAT: 4 is tried first, then 2");
    Check(PatternOk(r, 2), "STAT: the old answer's bytes are the kernel's");
  }
  // 9.0+ without compat_80 and a (hypothetical) EINVAL from 4: both refused, the error of 2 is returned.
  Reset();
  sim.stat_errno = EINVAL;
  {
    StatResult r = ModctlStat();
    Check(r.ret == -EINVAL && r.command == 2 && r.length == 0, "STAT: EINVAL from both commands is returned with command 2");
  }
  // Any other error from command 4 is final: no fallback.
  Reset();
  sim.stat_errno = EFAULT;
  {
    StatResult r = ModctlStat();
    Check(r.ret == -EFAULT && r.command == 4 && sim.commands.size() == 1, "STAT: another errno from command 4 is returned, 2 is not tried");
  }

  Check(InitModule("", 0, "") == -38 && DeleteModule("x", 0) == -38, "the Linux calls answer Linux's ENOSYS (38), whatever the host's is");
  Check(kModuleNameLen == 32 && kMaxModName == 32 && kModctlLoadForce == 1 && kModctlNoProp == 2, "constants from <sys/module.h>");

  std::printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
