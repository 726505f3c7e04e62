// kernmod native layer: the module system calls and nothing else.
//
// Rules (see ../README.md, "Architecture"):
//  - Every call returns the syscall's result, or -errno captured right after the syscall on the thread
//    that made it. No messages are built here; TypeScript turns -errno into a KernmodError.
//  - Each call has a Promise form (on the environment's syscall thread, or the libuv pool when that is
//    busy: see Call and SyscallThread) and a Sync form.
//  - The bytes a call uses stay valid until it ends, whatever the caller does to its buffer: the sync
//    forms read the caller's memory during the call; the Promise forms take a private copy (see OwnedBytes).
//  - A string argument with a NUL inside is refused with -EINVAL before any system call (see HasNul).
//  - A path given to finit_module is opened O_RDONLY|O_CLOEXEC on the thread that makes the call and
//    closed on every path; with a guard, its first bytes are read on that same fd first (see sys.h, HeadGuard).
//
// The system-specific parts live in sys_linux.cc, sys_netbsd.cc and sys_other.cc (which answers ENOSYS
// so that the addon builds, and npm install succeeds, everywhere).
#include <napi.h>
#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "sys.h"

namespace kernmod {
namespace {

// ---- argument helpers -------------------------------------------------------------------------------
// Each reads its argument with as few Node-API calls as it can (the read itself reports a wrong type),
// because under emulation every call between two system calls shows (README, Benchmarks).

napi_value Arg(const Napi::CallbackInfo& info, size_t i) {
  return i < info.Length() ? static_cast<napi_value>(info[i]) : nullptr;
}

std::string StringArg(const Napi::CallbackInfo& info, size_t i, const char* what) {
  napi_env env = info.Env();
  napi_value v = Arg(info, i);
  // Most strings here (paths, names, params) fit the stack buffer: one call. Longer ones: two more.
  char buf[256];
  size_t n = 0;
  if (v == nullptr || napi_get_value_string_utf8(env, v, buf, sizeof buf, &n) != napi_ok) {
    throw Napi::TypeError::New(env, std::string(what) + " must be a string");
  }
  // A cut never splits a character, so a cut string can end up to 3 bytes short of the buffer's end
  // (and the NUL takes one): only a result shorter than that is certainly whole.
  if (n + 4 < sizeof buf) return std::string(buf, n);
  NAPI_THROW_IF_FAILED(env, napi_get_value_string_utf8(env, v, nullptr, 0, &n), std::string());
  std::string out(n, '\0');
  NAPI_THROW_IF_FAILED(env, napi_get_value_string_utf8(env, v, out.data(), n + 1, &n), std::string());
  return out;
}

int64_t IntArg(const Napi::CallbackInfo& info, size_t i, const char* what) {
  int64_t out = 0;
  napi_value v = Arg(info, i);
  if (v == nullptr || napi_get_value_int64(info.Env(), v, &out) != napi_ok) {
    throw Napi::TypeError::New(info.Env(), std::string(what) + " must be a number");
  }
  return out;
}

// A view of the bytes of a Buffer / TypedArray / DataView / ArrayBuffer, without copying.
struct Bytes {
  const void* data = nullptr;
  size_t length = 0;
};

// A C string with a NUL inside would reach the kernel cut at the NUL: another path, name or params.
bool HasNul(const std::string& s) { return s.find('\0') != std::string::npos; }

// The typed array at `v` (one call: the data pointer comes back already offset), or false.
bool TypedArrayBytes(napi_env env, napi_value v, Bytes& out) {
  napi_typedarray_type type;
  size_t length = 0;
  void* data = nullptr;
  if (napi_get_typedarray_info(env, v, &type, &length, &data, nullptr, nullptr) != napi_ok) return false;
  // Element sizes in napi_typedarray_type order; a kind newer than this table asks node-addon-api.
  static constexpr size_t kElementSize[] = {1, 1, 1, 2, 2, 4, 4, 4, 8, 8, 8};
  auto kind = static_cast<size_t>(type);
  size_t bytes =
      kind < sizeof kElementSize / sizeof kElementSize[0] ? length * kElementSize[kind] : Napi::TypedArray(env, v).ByteLength();
  out = {data, bytes};
  return true;
}

Bytes BytesArg(const Napi::CallbackInfo& info, size_t i) {
  napi_env env = info.Env();
  napi_value v = Arg(info, i);
  Bytes out;
  if (v != nullptr) {
    if (TypedArrayBytes(env, v, out)) return out;
    size_t length = 0;
    void* data = nullptr;
    if (napi_get_dataview_info(env, v, &length, &data, nullptr, nullptr) == napi_ok) return {data, length};
    if (napi_get_arraybuffer_info(env, v, &data, &length) == napi_ok) return {data, length};
  }
  throw Napi::TypeError::New(env, "image must be a Buffer, TypedArray, DataView or ArrayBuffer");
}

// The bytes a call reads: the caller's own memory for the sync forms (read during the call), a private
// copy for the Promise forms. A reference to the buffer would not do there: the caller can still detach
// it (transfer it to a worker or a clone, which may free it) while the call waits for a thread, and the
// kernel would read freed memory.
struct OwnedBytes {
  Bytes view;
  std::vector<unsigned char> copy;
  const void* data() const { return copy.empty() ? view.data : copy.data(); }
};

OwnedBytes ImageArg(const Napi::CallbackInfo& info, size_t i, bool own) {
  Bytes b = BytesArg(info, i);
  if (!own) return {b, {}};
  auto* p = static_cast<const unsigned char*>(b.data);
  return {b, std::vector<unsigned char>(p, p + b.length)};
}

// The optional guard of finitModulePath, as lib/backend/native.ts encodes it once per guard: one
// Uint8Array of length-prefixed byte prefixes (n, n bytes, n, n bytes, ...), each 1..kMaxGuardHead.
// One typed array rather than an array of them: it is read on every load, and walking a JS array from
// C++ costs several Node-API calls per prefix.
std::optional<sys::HeadGuard> GuardArg(const Napi::CallbackInfo& info, size_t i) {
  napi_env env = info.Env();
  napi_value v = Arg(info, i);
  if (v == nullptr) return std::nullopt;
  Bytes bytes;
  if (!TypedArrayBytes(env, v, bytes)) {
    if (Napi::Value(env, v).IsUndefined()) return std::nullopt;
    throw Napi::TypeError::New(env, "guard must be an encoded Uint8Array");
  }
  auto* p = static_cast<const unsigned char*>(bytes.data);
  size_t n = bytes.length;
  sys::HeadGuard guard;
  for (size_t k = 0; k < n;) {
    size_t len = p[k++];
    if (len == 0 || len > sys::kMaxGuardHead || len > n - k) {
      throw Napi::RangeError::New(env, "a guard prefix must be 1 to " + std::to_string(sys::kMaxGuardHead) + " bytes");
    }
    guard.prefixes.emplace_back(reinterpret_cast<const char*>(p + k), len);
    if (len > guard.length) guard.length = len;
    k += len;
  }
  return guard;
}

// ---- async calls -------------------------------------------------------------------------------------

// One pending call: Run() makes the system call off the main thread, Value() turns its result into the
// promise's value back on the main thread. Never rejects for a syscall failure: a failure is a negative
// number, like the sync forms return.
//
// Where Run() runs: on the environment's syscall thread when that thread is free (the common case, one
// call after another: see SyscallThread), else on the libuv pool through uv_queue_work, so that
// concurrent calls (a parallel probe) still run side by side.
//
// Both complete inside one async context per environment, rather than through Node-API async work (or
// Napi::AsyncWorker on top of it), which makes an async resource per call: that resource was a quarter of
// the main thread's work per async call (bench/RESULTS.md). Async context still flows as it should: an
// await's continuation takes its context from the promise.
//
// Node does not know about these requests, so an environment that ends (a worker thread exiting or
// terminated) with calls in flight is held open by an async cleanup hook until they have completed: the
// loop would otherwise be closed under them. Those late completions touch no Node-API state (the env
// may already be gone): the call is freed like any other (it holds no JS value), and its promise is
// left unsettled, since nobody is left to see it.
class Call;
class SyscallThread;

struct CallState {
  napi_env env = nullptr;
  uv_loop_t* loop = nullptr;
  napi_ref resource = nullptr;                      // the async resource the calls complete in
  napi_async_context context = nullptr;             // ... and its context
  size_t pending = 0;                               // queued, not yet completed (main thread only)
  napi_async_cleanup_hook_handle ending = nullptr;  // set once the environment has begun to end
  std::shared_ptr<CallState>* hookRef = nullptr;    // the hook's share of this state
  std::unique_ptr<SyscallThread> thread;            // started on the first async call
  bool noThread = false;                            // ... and the system refused it
  uint64_t onThread = 0, onPool = 0;                // where the calls ran (callStats)
};

struct AddonData {
  std::shared_ptr<CallState> calls;
};

// ---- the syscall thread --------------------------------------------------------------------------------
// Why a thread of our own: a libuv pool thread sleeps as soon as its call is done, so the next call of a
// sequence (the unload after a load, the next module of a probe) first has to wake it, and a load+unload
// cycle pays four wake-ups; it moves the async cycle row (bench/RESULTS.md). This thread instead, after a
// call, waits a short while for the next one before it sleeps (like io_uring's SQPOLL thread, on a much
// shorter leash):
//  - only when calls come in a sequence: one of the last two requests came within the cap of the call
//    before it (the first call, or one after longer pauses, is followed by no wait);
//  - for a quarter of the last call's own time, so the waiting costs at most that much CPU over the
//    system calls themselves (a load takes ~1 ms on hardware, ~20 ms under TCG);
//  - never longer than KERNMOD_SYSCALL_SPIN_US (0 turns the waiting off), read once per process;
//  - and by default (4000 µs) only where the process may use two CPUs or more (sys::UsableCpus: its
//    affinity and its cgroup's CPU quota): on one CPU the waiting thread would compete with the very
//    thread that must make the next request. Setting the variable opts in anywhere.
// It takes one call at a time: a call made while it is busy goes to the pool, and while calls run there
// (a concurrent probe) it does not wait at all: on a 2-CPU machine its spinning would take a CPU from them.

constexpr int64_t kDefaultSpinCapNs = 4'000'000;

// The spin budget, from what the thread has seen (thread-side only).
struct SpinPolicy {
  int64_t capNs = kDefaultSpinCapNs;
  int longGaps = 2;       // late requests in a row (later than capNs after the call before); 2: no sequence
  int64_t lastRunNs = 0;  // the last call's own time

  // One late request can be the tail of the main thread's own wake-up (bench/RESULTS.md); two in a row
  // end the sequence.
  int64_t Budget() const { return longGaps < 2 ? std::min(capNs, lastRunNs / 4) : 0; }
  void SawGap(int64_t gapNs) { longGaps = gapNs <= capNs ? 0 : std::min(longGaps + 1, 2); }
};

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

int64_t SpinCapFromEnvironment() {
  const char* v = std::getenv("KERNMOD_SYSCALL_SPIN_US");
  if (v != nullptr && *v != '\0') {
    char* end = nullptr;
    long long us = std::strtoll(v, &end, 10);
    if (*end == '\0' && us >= 0) return std::min<long long>(us, 100'000) * 1000;  // at most 100 ms
  }
  return sys::UsableCpus() >= 2 ? kDefaultSpinCapNs : 0;  // unset, or not a count of µs: the default
}

// The cap every syscall thread of the process uses (read once: the environment and the CPUs).
int64_t SpinCapNs() {
  static const int64_t cap = SpinCapFromEnvironment();
  return cap;
}

class SyscallThread {
 public:
  // Main thread: starts the environment's syscall thread, whose calls `finished` settles on the main
  // thread; null when the system refuses a thread or a handle (the calls then all go to the pool).
  static std::unique_ptr<SyscallThread> Start(CallState* owner, uv_async_cb finished) {
    std::unique_ptr<SyscallThread> t(new SyscallThread(owner));
    if (uv_async_init(owner->loop, &t->async_, finished) != 0) return nullptr;
    t->async_.data = t.get();
    uv_unref(reinterpret_cast<uv_handle_t*>(&t->async_));  // only a call in flight keeps the loop alive
    try {
      t->thread_ = std::thread([raw = t.get()] { raw->Main(); });
    } catch (const std::system_error&) {
      uv_close(reinterpret_cast<uv_handle_t*>(&t.release()->async_), [](uv_handle_t* h) { delete From(h); });
      return nullptr;
    }
    return t;
  }

  // Main thread: hands `call` over, or returns false when a call is already running here.
  bool Give(Call* call) {
    if (busy_) return false;
    busy_ = true;
    uv_ref(reinterpret_cast<uv_handle_t*>(&async_));
    request_.store(call, std::memory_order_seq_cst);
    // Paired with the thread's sleeping_ store before its last look at request_ (both seq_cst): either
    // it sees the request, or this sees it asleep and wakes it.
    if (sleeping_.load(std::memory_order_seq_cst)) {
      std::lock_guard<std::mutex> lock(mu_);
      cv_.notify_one();
    }
    return true;
  }

  // Main thread, in the async callback: the call that has finished, if any; the thread is free again.
  Call* TakeFinished() {
    Call* call = finished_.exchange(nullptr, std::memory_order_acquire);
    if (call != nullptr) {
      busy_ = false;
      uv_unref(reinterpret_cast<uv_handle_t*>(&async_));
    }
    return call;
  }

  uint64_t spinHits() const { return spinHits_.load(std::memory_order_relaxed); }

  // Main thread: a call of this environment has started (+1) or finished (-1) on the pool. While any
  // runs there, this thread does not wait for the next request (it sleeps at once): the CPU is wanted.
  void PoolCalls(int delta) { poolCalls_.fetch_add(delta, std::memory_order_relaxed); }

  // Main thread, only when no call is on this thread: ends and joins it, then closes the handle;
  // `closed` runs once it is closed (the object must live until then).
  void Stop(uv_close_cb closed) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_.store(true, std::memory_order_relaxed);
      cv_.notify_one();
    }
    thread_.join();
    uv_close(reinterpret_cast<uv_handle_t*>(&async_), closed);
  }

  static SyscallThread* From(uv_handle_t* handle) { return static_cast<SyscallThread*>(handle->data); }
  CallState* owner() const { return owner_; }

 private:
  explicit SyscallThread(CallState* owner) : owner_(owner) { policy_.capNs = SpinCapNs(); }
  void Main();
  Call* NextRequest();

  CallState* owner_;  // owns this thread
  uv_async_t async_{};
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::atomic<Call*> request_{nullptr};   // main -> thread
  std::atomic<Call*> finished_{nullptr};  // thread -> main
  std::atomic<bool> sleeping_{false};
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> spinHits_{0};
  std::atomic<int> poolCalls_{0};
  bool busy_ = false;     // main thread only: a call was given and has not been taken back
  SpinPolicy policy_;     // thread only
  int64_t doneAtNs_ = 0;  // thread only: when the last call finished
};

class Call {
 public:
  Call() { live.fetch_add(1, std::memory_order_relaxed); }
  virtual ~Call() { live.fetch_sub(1, std::memory_order_relaxed); }
  Call(const Call&) = delete;
  Call& operator=(const Call&) = delete;
  // Calls not yet freed, in every environment of the process (callStats: the tests check that none is
  // left behind, an environment's end included).
  static inline std::atomic<int64_t> live{0};
  // Starts `call` (on the syscall thread, or the pool) and returns its promise; the call deletes itself
  // once settled.
  static Napi::Value Queue(Napi::Env env, std::unique_ptr<Call> call);
  static void OnThreadFinished(uv_async_t* handle);

 protected:
  virtual void Run() = 0;                        // another thread: the syscall, no JS values
  virtual Napi::Value Value(Napi::Env env) = 0;  // main thread

 private:
  friend class SyscallThread;
  static void Work(uv_work_t* req) { static_cast<Call*>(req->data)->Run(); }
  static void After(uv_work_t* req, int status);
  static void Settle(Call* raw);
  uv_work_t req_{};
  napi_deferred deferred_ = nullptr;
  std::shared_ptr<CallState> state_;
};

void SyscallThread::Main() {
  while (Call* call = NextRequest()) {
    int64_t start = NowNs();
    call->Run();
    doneAtNs_ = NowNs();
    policy_.lastRunNs = doneAtNs_ - start;
    finished_.store(call, std::memory_order_release);
    uv_async_send(&async_);
  }
}

Call* SyscallThread::NextRequest() {
  int64_t budget = poolCalls_.load(std::memory_order_relaxed) == 0 ? policy_.Budget() : 0;
  if (budget > 0) {
    int64_t until = doneAtNs_ + budget;
    for (;;) {
      if (request_.load(std::memory_order_relaxed) != nullptr) {
        Call* call = request_.exchange(nullptr, std::memory_order_acquire);
        spinHits_.fetch_add(1, std::memory_order_relaxed);
        policy_.SawGap(NowNs() - doneAtNs_);
        return call;
      }
      if (stop_.load(std::memory_order_relaxed)) return nullptr;
      if (NowNs() >= until) break;  // a vDSO read: a budget of a few µs (after a quick call) stays that
      CpuRelax();
    }
  }
  std::unique_lock<std::mutex> lock(mu_);
  sleeping_.store(true, std::memory_order_seq_cst);
  Call* call;
  while ((call = request_.exchange(nullptr, std::memory_order_seq_cst)) == nullptr && !stop_.load(std::memory_order_relaxed)) {
    cv_.wait(lock);
  }
  sleeping_.store(false, std::memory_order_relaxed);
  // A gap measured after sleeping includes the wake-up; a first call (doneAtNs_ 0) starts no sequence.
  if (call != nullptr) policy_.SawGap(doneAtNs_ == 0 ? INT64_MAX : NowNs() - doneAtNs_);
  return call;
}

// ---- the environment's end -----------------------------------------------------------------------------

void FinishEnding(CallState& s) {
  napi_remove_async_cleanup_hook(s.ending);
  delete s.hookRef;  // may free `s` (and its thread): last
}

// Once no call is in flight: the syscall thread (if any) is joined and its handle closed, then the hook
// is done.
void EndCalls(CallState& s) {
  if (!s.thread) return FinishEnding(s);
  s.thread->Stop([](uv_handle_t* handle) { FinishEnding(*SyscallThread::From(handle)->owner()); });
}

void OnEnvironmentEnding(napi_async_cleanup_hook_handle handle, void* arg) {
  CallState& s = **static_cast<std::shared_ptr<CallState>*>(arg);
  s.ending = handle;
  // The env is still whole here (it is being cleaned up): give back what the calls shared.
  napi_async_destroy(s.env, s.context);
  napi_delete_reference(s.env, s.resource);
  if (s.pending == 0) EndCalls(s);
}

void InitCalls(Napi::Env env, AddonData& data) {
  auto s = std::make_shared<CallState>();
  s->env = env;
  NAPI_THROW_IF_FAILED_VOID(env, napi_get_uv_event_loop(env, &s->loop));
  Napi::Object resource = Napi::Object::New(env);
  NAPI_THROW_IF_FAILED_VOID(env, napi_create_reference(env, resource, 1, &s->resource));
  NAPI_THROW_IF_FAILED_VOID(env, napi_async_init(env, resource, Napi::String::New(env, "kernmod"), &s->context));
  s->hookRef = new std::shared_ptr<CallState>(s);
  napi_async_cleanup_hook_handle unused;
  NAPI_THROW_IF_FAILED_VOID(env, napi_add_async_cleanup_hook(env, OnEnvironmentEnding, s->hookRef, &unused));
  data.calls = std::move(s);
}

Napi::Value Call::Queue(Napi::Env env, std::unique_ptr<Call> call) {
  const auto& state = env.GetInstanceData<AddonData>()->calls;
  napi_value promise;
  NAPI_THROW_IF_FAILED(env, napi_create_promise(env, &call->deferred_, &promise), Napi::Value());
  if (state->ending != nullptr) {  // JS run by the environment's own teardown: nothing may start now
    napi_reject_deferred(env, call->deferred_, Napi::Error::New(env, "kernmod: the environment is ending").Value());
    return Napi::Value(env, promise);
  }
  if (!state->thread && !state->noThread) {
    state->thread = SyscallThread::Start(state.get(), OnThreadFinished);
    state->noThread = !state->thread;
  }
  call->state_ = state;
  if (state->thread && state->thread->Give(call.get())) {
    state->onThread++;
  } else {
    call->req_.data = call.get();
    int r = uv_queue_work(state->loop, &call->req_, Work, After);
    if (r != 0) {  // only while the loop is closing
      call->state_.reset();
      napi_reject_deferred(env, call->deferred_, Napi::Error::New(env, std::string("uv_queue_work: ") + uv_strerror(r)).Value());
      return Napi::Value(env, promise);
    }
    state->onPool++;
    if (state->thread) state->thread->PoolCalls(+1);
  }
  state->pending++;
  call.release();  // owned by the thread or the queued request until it is settled
  return Napi::Value(env, promise);
}

void Call::After(uv_work_t* req, int /*status: never cancelled*/) {
  auto* call = static_cast<Call*>(req->data);
  if (call->state_->thread) call->state_->thread->PoolCalls(-1);
  Settle(call);
}

void Call::OnThreadFinished(uv_async_t* handle) {
  // uv_async_send coalesces, but the thread runs one call at a time and the next is given only after
  // this has taken the last: there is at most one to take.
  if (Call* call = SyscallThread::From(reinterpret_cast<uv_handle_t*>(handle))->TakeFinished()) Settle(call);
}

// Main thread: resolves the call's promise and runs its continuations, in the environment's context.
void Call::Settle(Call* raw) {
  std::unique_ptr<Call> call(raw);  // freed on every path
  std::shared_ptr<CallState> state = std::move(call->state_);
  state->pending--;
  if (state->ending != nullptr) {  // see "Node does not know about these requests" above
    call.reset();
    if (state->pending == 0) EndCalls(*state);
    return;
  }
  napi_env env = state->env;
  // Node-API fails these only for invalid arguments, which would be a bug here: then say so and stop,
  // rather than leave a promise that never settles.
  napi_handle_scope handles;
  napi_value resource;
  napi_callback_scope scope;
  if (napi_open_handle_scope(env, &handles) != napi_ok || napi_get_reference_value(env, state->resource, &resource) != napi_ok ||
      napi_open_callback_scope(env, resource, state->context, &scope) != napi_ok) {
    napi_fatal_error("kernmod", NAPI_AUTO_LENGTH, "cannot open a scope to settle a call", NAPI_AUTO_LENGTH);
  }
  try {
    napi_resolve_deferred(env, call->deferred_, call->Value(Napi::Env(env)));
  } catch (const Napi::Error& e) {  // building the value failed (e.g. out of memory)
    napi_reject_deferred(env, call->deferred_, e.Value());
  }
  call.reset();
  // Closing the callback scope runs the promise's continuations (which may hand the syscall thread its
  // next call: it was freed before this); an exception from a nextTick callback among them is
  // reported by Node as uncaught, as for any other completion.
  napi_close_callback_scope(env, scope);
  napi_close_handle_scope(env, handles);
}

// ---- the calls ----------------------------------------------------------------------------------------
// Each call is written once, as a Work: it reads the call's arguments on the main thread (a wrong type
// throws there) and returns the function that makes the system call, which SyncForm runs at once and
// PromiseForm on the syscall thread or the pool. `own` is set for the Promise forms (see OwnedBytes).

Napi::Value ToValue(Napi::Env env, int64_t ret) { return Napi::Number::New(env, static_cast<double>(ret)); }

// finit_module's result as a plain number when the call reached finit_module (the common case), else
// [ret, stage] (sys.h: 0 memfd_create failed, 1 write failed).
Napi::Value ToValue(Napi::Env env, const sys::ImageResult& r) {
  if (r.stage == sys::kImageFinit) return ToValue(env, r.ret);
  auto arr = Napi::Array::New(env, 2);
  arr.Set(uint32_t{0}, ToValue(env, r.ret));
  arr.Set(uint32_t{1}, Napi::Number::New(env, r.stage));
  return arr;
}

// A path call's result, with its guard: the caller needs the head the guard read when it stopped the call.
struct PathOutcome {
  sys::PathResult r;
  std::optional<sys::HeadGuard> guard;
};

Napi::Value ToValue(Napi::Env env, const PathOutcome& o) {
  if (o.r.stage == 1) return ToValue(env, o.r.ret);
  bool stopped = o.guard && o.r.stage == 2;
  auto arr = Napi::Array::New(env, stopped ? 3 : 2);
  arr.Set(uint32_t{0}, ToValue(env, o.r.ret));
  arr.Set(uint32_t{1}, Napi::Number::New(env, o.r.stage));
  if (stopped) arr.Set(uint32_t{2}, Napi::Buffer<uint8_t>::Copy(env, o.guard->head, o.guard->got));
  return arr;
}

#if defined(KERNMOD_MODCTL)
// [ret, command, Buffer]: the Buffer holds a copy of exactly the bytes the kernel reported.
Napi::Value ToValue(Napi::Env env, const sys::StatResult& r) {
  auto arr = Napi::Array::New(env, 3);
  arr.Set(uint32_t{0}, ToValue(env, r.ret));
  arr.Set(uint32_t{1}, Napi::Number::New(env, r.command));
  arr.Set(uint32_t{2},
          r.length == 0 ? Napi::Buffer<uint8_t>::New(env, 0) : Napi::Buffer<uint8_t>::Copy(env, r.data.get(), r.length));
  return arr;
}
#endif

// A Promise form's call: runs `run` off the main thread and resolves to ToValue(its result).
template <typename F>
class FnCall : public Call {
 public:
  explicit FnCall(F run) : run_(std::move(run)) {}

 protected:
  void Run() override { result_ = run_(); }
  Napi::Value Value(Napi::Env env) override { return ToValue(env, result_); }

 private:
  F run_;
  std::invoke_result_t<F&> result_{};
};

template <auto Work>
Napi::Value SyncForm(const Napi::CallbackInfo& info) {
  return ToValue(info.Env(), Work(info, false)());
}

template <auto Work>
Napi::Value PromiseForm(const Napi::CallbackInfo& info) {
  auto run = Work(info, true);
  return Call::Queue(info.Env(), std::make_unique<FnCall<decltype(run)>>(std::move(run)));
}

// A NUL in the path fails where open(2) would run, one in the other strings where their system call would.
auto InitModuleWork(const Napi::CallbackInfo& info, bool own) {
  OwnedBytes image = ImageArg(info, 0, own);
  std::string params = StringArg(info, 1, "params");
  return [image = std::move(image), params = std::move(params)] {
    return HasNul(params) ? -EINVAL : sys::InitModule(image.data(), image.view.length, params.c_str());
  };
}

auto FinitModuleWork(const Napi::CallbackInfo& info, bool) {
  auto fd = static_cast<int>(IntArg(info, 0, "fd"));
  std::string params = StringArg(info, 1, "params");
  auto flags = static_cast<int>(IntArg(info, 2, "flags"));
  return
      [fd, params = std::move(params), flags] { return HasNul(params) ? -EINVAL : sys::FinitModule(fd, params.c_str(), flags); };
}

auto FinitModulePathWork(const Napi::CallbackInfo& info, bool) {
  std::string path = StringArg(info, 0, "path");
  std::string params = StringArg(info, 1, "params");
  auto flags = static_cast<int>(IntArg(info, 2, "flags"));
  PathOutcome out{{}, GuardArg(info, 3)};
  return [path = std::move(path), params = std::move(params), flags, out = std::move(out)]() mutable {
    if (HasNul(path))
      out.r = {-EINVAL, 0};
    else if (HasNul(params))
      out.r = {-EINVAL, 1};
    else
      out.r = sys::FinitModulePath(path.c_str(), params.c_str(), flags, out.guard ? &*out.guard : nullptr);
    return std::move(out);
  };
}

auto FinitModuleImageWork(const Napi::CallbackInfo& info, bool own) {
  OwnedBytes image = ImageArg(info, 0, own);
  std::string params = StringArg(info, 1, "params");
  auto flags = static_cast<int>(IntArg(info, 2, "flags"));
  return [image = std::move(image), params = std::move(params), flags] {
    if (HasNul(params)) return sys::ImageResult{-EINVAL, sys::kImageFinit};
    return sys::FinitModuleImage(image.data(), image.view.length, params.c_str(), flags);
  };
}

auto DeleteModuleWork(const Napi::CallbackInfo& info, bool) {
  std::string name = StringArg(info, 0, "name");
  auto flags = static_cast<int>(IntArg(info, 1, "flags"));
  return [name = std::move(name), flags] { return HasNul(name) ? -EINVAL : sys::DeleteModule(name.c_str(), flags); };
}

// readOne(fd): read(2) of at most one byte from a descriptor the caller owns, where the module calls run
// (the syscall thread, or the pool when that is busy). The module calls never wait on a file (their open
// is O_NONBLOCK), so this is the call whose length the caller decides: it lasts until the other end of
// a pipe or FIFO writes or closes. The tests of the syscall thread, the pool and a call's lifetime use
// it to hold a thread. Resolves to the bytes read (0 or 1) or -errno.
auto ReadOneWork(const Napi::CallbackInfo& info, bool) {
  auto fd = static_cast<int>(IntArg(info, 0, "fd"));
  return [fd] {
    unsigned char byte;
    ssize_t n;
    do n = read(fd, &byte, 1);
    while (n < 0 && errno == EINTR);
    return n < 0 ? -static_cast<int64_t>(errno) : static_cast<int64_t>(n);
  };
}

#if defined(KERNMOD_MODCTL)
// ---- NetBSD modctl(2) calls (compiled only where binding.gyp defines KERNMOD_MODCTL) ------------------

auto ModctlLoadWork(const Napi::CallbackInfo& info, bool) {
  std::string filename = StringArg(info, 0, "filename");
  auto flags = static_cast<int>(IntArg(info, 1, "flags"));
  std::string props = StringArg(info, 2, "props");
  return [filename = std::move(filename), flags, props = std::move(props)] {
    return HasNul(filename) || HasNul(props) ? -EINVAL : sys::ModctlLoad(filename.c_str(), flags, props.c_str());
  };
}

auto ModctlUnloadWork(const Napi::CallbackInfo& info, bool) {
  return [name = StringArg(info, 0, "name")] { return HasNul(name) ? -EINVAL : sys::ModctlUnload(name.c_str()); };
}

auto ModctlStatWork(const Napi::CallbackInfo&, bool) {
  return [] { return sys::ModctlStat(); };
}

auto ModctlExistsWork(const Napi::CallbackInfo& info, bool) {
  return [which = static_cast<int>(IntArg(info, 0, "which"))] { return sys::ModctlExists(which); };
}
#endif  // KERNMOD_MODCTL

// ---- exported functions -----------------------------------------------------------------------------

// readAvailable(fd): read(2)s of a non-blocking descriptor (the kernel log, lib/linux/kmsg.ts), one after
// another, until it has nothing more now (EAGAIN, or end of file) or less than kReadAvailableMin bytes of
// kReadAvailableSize are left (/dev/kmsg refuses a read shorter than its longest record). Returns what was
// read as a latin1 string (the kernel log is ASCII: it escapes every other byte), or -errno when the first
// read failed; EPIPE (records overwritten before they were read) goes on from the oldest one left. One call
// and no exception per capture, and no Buffer to decode in JavaScript (bench/RESULTS.md).
constexpr size_t kReadAvailableSize = 65536;
constexpr size_t kReadAvailableMin = 8192;

Napi::Value ReadAvailable(const Napi::CallbackInfo& info) {
  auto fd = static_cast<int>(IntArg(info, 0, "fd"));
  std::unique_ptr<char[]> p(new char[kReadAvailableSize]);
  size_t at = 0;
  int err = 0;
  while (kReadAvailableSize - at >= kReadAvailableMin) {
    ssize_t n = read(fd, p.get() + at, kReadAvailableSize - at);
    if (n > 0) {
      at += static_cast<size_t>(n);
      continue;
    }
    if (n == 0 || errno == EAGAIN || errno == EWOULDBLOCK) break;
    if (errno == EINTR || errno == EPIPE) continue;
    if (at == 0) err = errno;
    break;
  }
  if (err != 0) return Napi::Number::New(info.Env(), -static_cast<double>(err));
  napi_value text;
  NAPI_THROW_IF_FAILED(info.Env(), napi_create_string_latin1(info.Env(), p.get(), at, &text), Napi::Value());
  return Napi::Value(info.Env(), text);
}

// Where this environment's async calls have run: { thread, pool, spinHits } (spinHits: calls the syscall
// thread found while it was still waiting, so with no wake-up). For the tests and the bench.
Napi::Value CallStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const auto& state = env.GetInstanceData<AddonData>()->calls;
  auto out = Napi::Object::New(env);
  out.Set("thread", Napi::Number::New(env, static_cast<double>(state->onThread)));
  out.Set("pool", Napi::Number::New(env, static_cast<double>(state->onPool)));
  out.Set("spinHits", Napi::Number::New(env, state->thread ? static_cast<double>(state->thread->spinHits()) : 0));
  out.Set("spinCapUs", Napi::Number::New(env, static_cast<double>(SpinCapNs() / 1000)));
  out.Set("live", Napi::Number::New(env, static_cast<double>(Call::live.load(std::memory_order_relaxed))));
  return out;
}

Napi::Object Constants(Napi::Env env) {
  auto c = Napi::Object::New(env);
  c.Set("system", Napi::String::New(env, sys::kSystem));
  c.Set("MODULE_NAME_LEN", Napi::Number::New(env, sys::kModuleNameLen));
  c.Set("O_TRUNC", Napi::Number::New(env, sys::kOTrunc));
  c.Set("O_NONBLOCK", Napi::Number::New(env, sys::kONonblock));
#if defined(KERNMOD_MODCTL)
  c.Set("MAXMODNAME", Napi::Number::New(env, sys::kMaxModName));
  c.Set("MODCTL_LOAD_FORCE", Napi::Number::New(env, sys::kModctlLoadForce));
  c.Set("MODCTL_NO_PROP", Napi::Number::New(env, sys::kModctlNoProp));
#endif
  return c;
}

// `name` (the Promise form) and `name`Sync.
template <auto Work>
void Export(Napi::Env env, Napi::Object exports, const std::string& name) {
  exports.Set(name, Napi::Function::New(env, PromiseForm<Work>, name));
  exports.Set(name + "Sync", Napi::Function::New(env, SyncForm<Work>, name + "Sync"));
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  auto* data = new AddonData{};
  env.SetInstanceData(data);
  InitCalls(env, *data);
  Export<InitModuleWork>(env, exports, "initModule");
  Export<FinitModuleWork>(env, exports, "finitModule");
  Export<FinitModulePathWork>(env, exports, "finitModulePath");
  Export<FinitModuleImageWork>(env, exports, "finitModuleImage");
  Export<DeleteModuleWork>(env, exports, "deleteModule");
#if defined(KERNMOD_MODCTL)
  Export<ModctlLoadWork>(env, exports, "modctlLoad");
  Export<ModctlUnloadWork>(env, exports, "modctlUnload");
  Export<ModctlStatWork>(env, exports, "modctlStat");
  Export<ModctlExistsWork>(env, exports, "modctlExists");
#endif
  exports.Set("readOne", Napi::Function::New(env, PromiseForm<ReadOneWork>, "readOne"));
  exports.Set("readAvailable", Napi::Function::New(env, ReadAvailable, "readAvailable"));
  exports.Set("callStats", Napi::Function::New(env, CallStats, "callStats"));
  exports.Set("constants", Constants(env));
  return exports;
}

}  // namespace
}  // namespace kernmod

// NODE_API_MODULE pastes the init function's name into an identifier, so it needs a plain name.
static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return kernmod::Init(env, exports); }
NODE_API_MODULE(NODE_GYP_MODULE_NAME, InitAddon)
