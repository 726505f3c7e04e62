// kernmod native layer: the module system calls and nothing else.
//
// Rules (see ../README.md, "Architecture"):
//  - Every call returns the syscall's result, or -errno captured right after the syscall on the thread
//    that made it. No messages are built here; TypeScript turns -errno into a KernmodError.
//  - Each call has a Promise form (a Napi::AsyncWorker on the libuv pool) and a Sync form.
//  - init_module gets the caller's buffer memory without a copy; the worker keeps a reference to the
//    buffer until it has finished.
//  - A path given to finit_module is opened O_RDONLY|O_CLOEXEC inside the worker and closed on every path;
//    with a guard, its first bytes are read on that same fd first (see sys.h, HeadGuard).
//
// The system-specific parts live in sys_linux.cc, sys_netbsd.cc and sys_other.cc (which answers ENOSYS
// so that the addon builds, and npm install succeeds, everywhere).
#include <napi.h>

#include <cerrno>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include "sys.h"

namespace kernmod {
namespace {

// ---- argument helpers -------------------------------------------------------------------------------

std::string StringArg(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (info.Length() <= i || !info[i].IsString()) {
    throw Napi::TypeError::New(info.Env(), std::string(what) + " must be a string");
  }
  return info[i].As<Napi::String>().Utf8Value();
}

int64_t IntArg(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (info.Length() <= i || !info[i].IsNumber()) {
    throw Napi::TypeError::New(info.Env(), std::string(what) + " must be a number");
  }
  return info[i].As<Napi::Number>().Int64Value();
}

// A view of the bytes of a Buffer / TypedArray / DataView / ArrayBuffer, without copying.
struct Bytes {
  const void* data = nullptr;
  size_t length = 0;
};

Bytes BytesArg(const Napi::CallbackInfo& info, size_t i) {
  if (info.Length() > i) {
    Napi::Value v = info[i];
    if (v.IsTypedArray()) {
      auto ta = v.As<Napi::TypedArray>();
      auto* base = static_cast<const uint8_t*>(ta.ArrayBuffer().Data());
      return {base + ta.ByteOffset(), ta.ByteLength()};
    }
    if (v.IsDataView()) {
      auto dv = v.As<Napi::DataView>();
      auto* base = static_cast<const uint8_t*>(dv.ArrayBuffer().Data());
      return {base + dv.ByteOffset(), dv.ByteLength()};
    }
    if (v.IsArrayBuffer()) {
      auto ab = v.As<Napi::ArrayBuffer>();
      return {ab.Data(), ab.ByteLength()};
    }
  }
  throw Napi::TypeError::New(info.Env(), "image must be a Buffer, TypedArray, DataView or ArrayBuffer");
}

// The optional guard of finitModulePath, as lib/backend/native.ts encodes it once per guard: one
// Uint8Array of length-prefixed byte prefixes (n, n bytes, n, n bytes, ...), each 1..kMaxGuardHead.
// One typed array rather than an array of them: it is read on every load, and walking a JS array from
// C++ costs several Node-API calls per prefix.
std::optional<sys::HeadGuard> GuardArg(const Napi::CallbackInfo& info, size_t i) {
  if (info.Length() <= i || info[i].IsUndefined()) return std::nullopt;
  if (!info[i].IsTypedArray()) throw Napi::TypeError::New(info.Env(), "guard must be an encoded Uint8Array");
  auto ta = info[i].As<Napi::TypedArray>();
  auto* p = static_cast<const unsigned char*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
  size_t n = ta.ByteLength();
  sys::HeadGuard guard;
  for (size_t k = 0; k < n;) {
    size_t len = p[k++];
    if (len == 0 || len > sys::kMaxGuardHead || len > n - k) {
      throw Napi::RangeError::New(info.Env(), "a guard prefix must be 1 to " + std::to_string(sys::kMaxGuardHead) + " bytes");
    }
    guard.prefixes.emplace_back(reinterpret_cast<const char*>(p + k), len);
    if (len > guard.length) guard.length = len;
    k += len;
  }
  return guard;
}

// ---- async workers ----------------------------------------------------------------------------------

// Base: runs Work() on the pool, resolves the promise with Result(). Never rejects for a syscall
// failure: a failure is a negative number, like the sync forms return.
class Worker : public Napi::AsyncWorker {
 public:
  explicit Worker(Napi::Env env, const char* name)
      : Napi::AsyncWorker(env, name), deferred_(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise Promise() { return deferred_.Promise(); }

 protected:
  virtual Napi::Value Result(Napi::Env env) = 0;
  void OnOK() override { deferred_.Resolve(Result(Env())); }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
};

class InitModuleWorker : public Worker {
 public:
  InitModuleWorker(Napi::Env env, Napi::Value holder, Bytes image, std::string params)
      : Worker(env, "kernmod:init_module"),
        holder_(Napi::Persistent(holder)),
        image_(image),
        params_(std::move(params)) {}
  void Execute() override { ret_ = sys::InitModule(image_.data, image_.length, params_.c_str()); }
  Napi::Value Result(Napi::Env env) override { return Napi::Number::New(env, static_cast<double>(ret_)); }

 private:
  Napi::Reference<Napi::Value> holder_;  // keeps the image's memory alive while the pool thread reads it
  Bytes image_;
  std::string params_;
  int64_t ret_ = 0;
};

class FinitModuleFdWorker : public Worker {
 public:
  FinitModuleFdWorker(Napi::Env env, int fd, std::string params, int flags)
      : Worker(env, "kernmod:finit_module"), fd_(fd), params_(std::move(params)), flags_(flags) {}
  void Execute() override { ret_ = sys::FinitModule(fd_, params_.c_str(), flags_); }
  Napi::Value Result(Napi::Env env) override { return Napi::Number::New(env, static_cast<double>(ret_)); }

 private:
  int fd_;
  std::string params_;
  int flags_;
  int64_t ret_ = 0;
};

// Resolves finit_module's result as a plain number when the call reached finit_module (stage 1: the
// common case, and the cheapest value to hand back), else [ret, stage] (sys.h: 0 open failed, 2 the guard
// stopped, 3 pread failed), with the head read as a third element when the guard stopped the call.
class FinitModulePathWorker : public Worker {
 public:
  FinitModulePathWorker(Napi::Env env, std::string path, std::string params, int flags, std::optional<sys::HeadGuard> guard)
      : Worker(env, "kernmod:finit_module"),
        path_(std::move(path)),
        params_(std::move(params)),
        flags_(flags),
        guard_(std::move(guard)) {}
  void Execute() override {
    result_ = sys::FinitModulePath(path_.c_str(), params_.c_str(), flags_, guard_ ? &*guard_ : nullptr);
  }
  Napi::Value Result(Napi::Env env) override;

 private:
  std::string path_;
  std::string params_;
  int flags_;
  std::optional<sys::HeadGuard> guard_;
  sys::PathResult result_{};
};

Napi::Value PathResultValue(Napi::Env env, const sys::PathResult& r, const sys::HeadGuard* guard) {
  if (r.stage == 1) return Napi::Number::New(env, static_cast<double>(r.ret));
  bool stopped = guard != nullptr && r.stage == 2;  // only then does the caller need the head
  auto arr = Napi::Array::New(env, stopped ? 3 : 2);
  arr.Set(uint32_t{0}, Napi::Number::New(env, static_cast<double>(r.ret)));
  arr.Set(uint32_t{1}, Napi::Number::New(env, r.stage));
  if (stopped) arr.Set(uint32_t{2}, Napi::Buffer<uint8_t>::Copy(env, guard->head, guard->got));
  return arr;
}

Napi::Value FinitModulePathWorker::Result(Napi::Env env) { return PathResultValue(env, result_, guard_ ? &*guard_ : nullptr); }

class DeleteModuleWorker : public Worker {
 public:
  DeleteModuleWorker(Napi::Env env, std::string name, int flags)
      : Worker(env, "kernmod:delete_module"), name_(std::move(name)), flags_(flags) {}
  void Execute() override { ret_ = sys::DeleteModule(name_.c_str(), flags_); }
  Napi::Value Result(Napi::Env env) override { return Napi::Number::New(env, static_cast<double>(ret_)); }

 private:
  std::string name_;
  int flags_;
  int64_t ret_ = 0;
};

#if defined(KERNMOD_MODCTL)
// ---- NetBSD modctl(2) workers (compiled only where binding.gyp defines KERNMOD_MODCTL) ----------------

class ModctlLoadWorker : public Worker {
 public:
  ModctlLoadWorker(Napi::Env env, std::string filename, int flags, std::string props)
      : Worker(env, "kernmod:modctl_load"), filename_(std::move(filename)), flags_(flags), props_(std::move(props)) {}
  void Execute() override { ret_ = sys::ModctlLoad(filename_.c_str(), flags_, props_.c_str()); }
  Napi::Value Result(Napi::Env env) override { return Napi::Number::New(env, static_cast<double>(ret_)); }

 private:
  std::string filename_;
  int flags_;
  std::string props_;
  int64_t ret_ = 0;
};

class ModctlUnloadWorker : public Worker {
 public:
  ModctlUnloadWorker(Napi::Env env, std::string name) : Worker(env, "kernmod:modctl_unload"), name_(std::move(name)) {}
  void Execute() override { ret_ = sys::ModctlUnload(name_.c_str()); }
  Napi::Value Result(Napi::Env env) override { return Napi::Number::New(env, static_cast<double>(ret_)); }

 private:
  std::string name_;
  int64_t ret_ = 0;
};

class ModctlExistsWorker : public Worker {
 public:
  ModctlExistsWorker(Napi::Env env, int which) : Worker(env, "kernmod:modctl_exists"), which_(which) {}
  void Execute() override { ret_ = sys::ModctlExists(which_); }
  Napi::Value Result(Napi::Env env) override { return Napi::Number::New(env, static_cast<double>(ret_)); }

 private:
  int which_;
  int64_t ret_ = 0;
};

// [ret, command, Buffer]: the Buffer holds a copy of exactly the bytes the kernel reported.
Napi::Value StatValue(Napi::Env env, const sys::StatResult& r) {
  auto arr = Napi::Array::New(env, 3);
  arr.Set(uint32_t{0}, Napi::Number::New(env, static_cast<double>(r.ret)));
  arr.Set(uint32_t{1}, Napi::Number::New(env, r.command));
  arr.Set(uint32_t{2}, r.length == 0 ? Napi::Buffer<uint8_t>::New(env, 0)
                                     : Napi::Buffer<uint8_t>::Copy(env, r.data.get(), r.length));
  return arr;
}

class ModctlStatWorker : public Worker {
 public:
  explicit ModctlStatWorker(Napi::Env env) : Worker(env, "kernmod:modctl_stat") {}
  void Execute() override { result_ = sys::ModctlStat(); }
  Napi::Value Result(Napi::Env env) override { return StatValue(env, result_); }

 private:
  sys::StatResult result_;
};
#endif  // KERNMOD_MODCTL

// ---- exported functions -----------------------------------------------------------------------------

template <typename W, typename... A>
Napi::Value Queue(Napi::Env env, A&&... args) {
  auto* w = new W(env, std::forward<A>(args)...);
  auto promise = w->Promise();
  w->Queue();
  return promise;
}

Napi::Value InitModule(const Napi::CallbackInfo& info) {
  Bytes image = BytesArg(info, 0);
  return Queue<InitModuleWorker>(info.Env(), info[0], image, StringArg(info, 1, "params"));
}

Napi::Value InitModuleSync(const Napi::CallbackInfo& info) {
  Bytes image = BytesArg(info, 0);
  std::string params = StringArg(info, 1, "params");
  return Napi::Number::New(info.Env(), static_cast<double>(sys::InitModule(image.data, image.length, params.c_str())));
}

Napi::Value FinitModule(const Napi::CallbackInfo& info) {
  auto fd = static_cast<int>(IntArg(info, 0, "fd"));
  return Queue<FinitModuleFdWorker>(info.Env(), fd, StringArg(info, 1, "params"),
                                    static_cast<int>(IntArg(info, 2, "flags")));
}

Napi::Value FinitModuleSync(const Napi::CallbackInfo& info) {
  auto fd = static_cast<int>(IntArg(info, 0, "fd"));
  std::string params = StringArg(info, 1, "params");
  auto flags = static_cast<int>(IntArg(info, 2, "flags"));
  return Napi::Number::New(info.Env(), static_cast<double>(sys::FinitModule(fd, params.c_str(), flags)));
}

Napi::Value FinitModulePath(const Napi::CallbackInfo& info) {
  std::string path = StringArg(info, 0, "path");
  std::string params = StringArg(info, 1, "params");
  auto flags = static_cast<int>(IntArg(info, 2, "flags"));
  return Queue<FinitModulePathWorker>(info.Env(), std::move(path), std::move(params), flags, GuardArg(info, 3));
}

Napi::Value FinitModulePathSync(const Napi::CallbackInfo& info) {
  std::string path = StringArg(info, 0, "path");
  std::string params = StringArg(info, 1, "params");
  auto flags = static_cast<int>(IntArg(info, 2, "flags"));
  auto guard = GuardArg(info, 3);
  sys::HeadGuard* g = guard ? &*guard : nullptr;
  auto result = sys::FinitModulePath(path.c_str(), params.c_str(), flags, g);
  return PathResultValue(info.Env(), result, g);
}

Napi::Value DeleteModule(const Napi::CallbackInfo& info) {
  std::string name = StringArg(info, 0, "name");
  return Queue<DeleteModuleWorker>(info.Env(), std::move(name), static_cast<int>(IntArg(info, 1, "flags")));
}

Napi::Value DeleteModuleSync(const Napi::CallbackInfo& info) {
  std::string name = StringArg(info, 0, "name");
  auto flags = static_cast<int>(IntArg(info, 1, "flags"));
  return Napi::Number::New(info.Env(), static_cast<double>(sys::DeleteModule(name.c_str(), flags)));
}

#if defined(KERNMOD_MODCTL)
Napi::Value ModctlLoad(const Napi::CallbackInfo& info) {
  std::string filename = StringArg(info, 0, "filename");
  auto flags = static_cast<int>(IntArg(info, 1, "flags"));
  return Queue<ModctlLoadWorker>(info.Env(), std::move(filename), flags, StringArg(info, 2, "props"));
}

Napi::Value ModctlLoadSync(const Napi::CallbackInfo& info) {
  std::string filename = StringArg(info, 0, "filename");
  auto flags = static_cast<int>(IntArg(info, 1, "flags"));
  std::string props = StringArg(info, 2, "props");
  return Napi::Number::New(info.Env(), static_cast<double>(sys::ModctlLoad(filename.c_str(), flags, props.c_str())));
}

Napi::Value ModctlUnload(const Napi::CallbackInfo& info) {
  return Queue<ModctlUnloadWorker>(info.Env(), StringArg(info, 0, "name"));
}

Napi::Value ModctlUnloadSync(const Napi::CallbackInfo& info) {
  std::string name = StringArg(info, 0, "name");
  return Napi::Number::New(info.Env(), static_cast<double>(sys::ModctlUnload(name.c_str())));
}

Napi::Value ModctlStat(const Napi::CallbackInfo& info) { return Queue<ModctlStatWorker>(info.Env()); }

Napi::Value ModctlStatSync(const Napi::CallbackInfo& info) { return StatValue(info.Env(), sys::ModctlStat()); }

Napi::Value ModctlExists(const Napi::CallbackInfo& info) {
  return Queue<ModctlExistsWorker>(info.Env(), static_cast<int>(IntArg(info, 0, "which")));
}

Napi::Value ModctlExistsSync(const Napi::CallbackInfo& info) {
  auto which = static_cast<int>(IntArg(info, 0, "which"));
  return Napi::Number::New(info.Env(), static_cast<double>(sys::ModctlExists(which)));
}
#endif  // KERNMOD_MODCTL

// { [errno]: [name, description] } from the C library this addon was built against.
Napi::Value ErrnoTable(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto table = Napi::Object::New(env);
  for (int e = 1; e < 512; e++) {
    const char* name = sys::ErrnoName(e);
    if (name == nullptr) continue;
    auto entry = Napi::Array::New(env, 2);
    entry.Set(uint32_t{0}, Napi::String::New(env, name));
    entry.Set(uint32_t{1}, Napi::String::New(env, sys::ErrnoDescription(e)));
    table.Set(Napi::Number::New(env, e), entry);
  }
  return table;
}

Napi::Object Constants(Napi::Env env) {
  auto c = Napi::Object::New(env);
  c.Set("system", Napi::String::New(env, sys::kSystem));
  c.Set("MODULE_NAME_LEN", Napi::Number::New(env, sys::kModuleNameLen));
  c.Set("O_TRUNC", Napi::Number::New(env, sys::kOTrunc));
  c.Set("O_NONBLOCK", Napi::Number::New(env, sys::kONonblock));
  c.Set("ENOSYS", Napi::Number::New(env, ENOSYS));
#if defined(KERNMOD_MODCTL)
  c.Set("MAXMODNAME", Napi::Number::New(env, sys::kMaxModName));
  c.Set("MODCTL_LOAD_FORCE", Napi::Number::New(env, sys::kModctlLoadForce));
  c.Set("MODCTL_NO_PROP", Napi::Number::New(env, sys::kModctlNoProp));
#endif
  return c;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("initModule", Napi::Function::New(env, InitModule, "initModule"));
  exports.Set("initModuleSync", Napi::Function::New(env, InitModuleSync, "initModuleSync"));
  exports.Set("finitModule", Napi::Function::New(env, FinitModule, "finitModule"));
  exports.Set("finitModuleSync", Napi::Function::New(env, FinitModuleSync, "finitModuleSync"));
  exports.Set("finitModulePath", Napi::Function::New(env, FinitModulePath, "finitModulePath"));
  exports.Set("finitModulePathSync", Napi::Function::New(env, FinitModulePathSync, "finitModulePathSync"));
  exports.Set("deleteModule", Napi::Function::New(env, DeleteModule, "deleteModule"));
  exports.Set("deleteModuleSync", Napi::Function::New(env, DeleteModuleSync, "deleteModuleSync"));
#if defined(KERNMOD_MODCTL)
  exports.Set("modctlLoad", Napi::Function::New(env, ModctlLoad, "modctlLoad"));
  exports.Set("modctlLoadSync", Napi::Function::New(env, ModctlLoadSync, "modctlLoadSync"));
  exports.Set("modctlUnload", Napi::Function::New(env, ModctlUnload, "modctlUnload"));
  exports.Set("modctlUnloadSync", Napi::Function::New(env, ModctlUnloadSync, "modctlUnloadSync"));
  exports.Set("modctlStat", Napi::Function::New(env, ModctlStat, "modctlStat"));
  exports.Set("modctlStatSync", Napi::Function::New(env, ModctlStatSync, "modctlStatSync"));
  exports.Set("modctlExists", Napi::Function::New(env, ModctlExists, "modctlExists"));
  exports.Set("modctlExistsSync", Napi::Function::New(env, ModctlExistsSync, "modctlExistsSync"));
#endif
  exports.Set("errnoTable", Napi::Function::New(env, ErrnoTable, "errnoTable"));
  exports.Set("constants", Constants(env));
  return exports;
}

}  // namespace
}  // namespace kernmod

// NODE_API_MODULE pastes the init function's name into an identifier, so it needs a plain name.
static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return kernmod::Init(env, exports); }
NODE_API_MODULE(NODE_GYP_MODULE_NAME, InitAddon)
