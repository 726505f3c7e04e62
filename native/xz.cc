// kernmod_xz: xz decoding with the system's liblzma, for reading .ko.xz modules in user space.
//
// A separate addon from the syscall layer (kernmod.node), which stays a thin syscall-only binding.
// This one exists for speed: liblzma decodes Debian's .ko.xz about 1.5x faster than the pure-Rust
// decoder of @napi-rs/lzma, which remains the fallback when liblzma's headers were not there at build
// time (then `available` is false). The caller passes the exact decompressed size, which TypeScript
// has already read from the xz block headers and checked against its cap, so nothing here can be
// made to allocate more than the caller allowed.
#include <napi.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <algorithm>
#include <string>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(KERNMOD_HAVE_LZMA)
#include <lzma.h>
#endif

namespace {

#if defined(KERNMOD_HAVE_LZMA)
// One decoder per thread (the main thread, each worker thread, each thread-pool thread), kept between
// calls: re-initialising an lzma_stream reuses its allocations, above all the LZMA2 dictionary (1 MiB
// for Debian's modules), which a fresh decoder per file would allocate and fault in again every time.
struct ThreadDecoder {
  lzma_stream strm = LZMA_STREAM_INIT;
  ~ThreadDecoder() { lzma_end(&strm); }
};
thread_local ThreadDecoder decoder;

// Runs this thread's decoder over the first .xz stream of `in`, into at most `cap` bytes of `out`:
// liblzma's result, with the bytes written and the input bytes left over. The one place that sets up
// a decode (Decode and readDecodeBatch differ only in how they judge the result).
lzma_ret DecodeStream(const uint8_t* in, size_t inLen, uint8_t* out, size_t cap, size_t* written, size_t* inLeft) {
  const uint64_t memlimit = UINT64_C(1) << 30;  // the dictionary a module may ask for; kernel-style is 1 MiB
  lzma_stream& s = decoder.strm;
  *written = 0;
  *inLeft = inLen;
  lzma_ret r = lzma_stream_decoder(&s, memlimit, 0);
  if (r != LZMA_OK) return r;
  s.next_in = in;
  s.avail_in = inLen;
  s.next_out = out;
  s.avail_out = cap;
  r = lzma_code(&s, LZMA_FINISH);
  *written = cap - s.avail_out;
  *inLeft = s.avail_in;
  return r;
}

// Decodes the first .xz stream of `in` into `out`, which must come out exactly `size` bytes.
// Returns "" or an error text.
std::string Decode(const uint8_t* in, size_t inLen, uint8_t* out, size_t size, size_t* written) {
  size_t inLeft = 0;
  lzma_ret r = DecodeStream(in, inLen, out, size, written, &inLeft);
  if (r == LZMA_STREAM_END) {
    if (*written != size) return "the stream decoded to another size than its headers state";
    return "";
  }
  switch (r) {
    case LZMA_OK:  // stopped for want of output space or of input
    case LZMA_BUF_ERROR: return "truncated or larger than its headers state";
    case LZMA_DATA_ERROR: return "corrupt data";
    case LZMA_FORMAT_ERROR: return "not an xz stream";
    case LZMA_OPTIONS_ERROR: return "unsupported xz options";
    case LZMA_MEMLIMIT_ERROR: return "needs more than 1 GiB of memory to decode";
    case LZMA_MEM_ERROR: return "out of memory";
    default: return "liblzma error " + std::to_string(static_cast<int>(r));
  }
}

void FreeOutput(Napi::Env, uint8_t* data) { std::free(data); }

struct Input {
  const uint8_t* data;
  size_t length;
  size_t size;
};

Input Args(const Napi::CallbackInfo& info) {
  if (info.Length() < 2 || !info[0].IsTypedArray() || !info[1].IsNumber()) {
    throw Napi::TypeError::New(info.Env(), "expected (Uint8Array input, number size)");
  }
  auto ta = info[0].As<Napi::TypedArray>();
  double size = info[1].As<Napi::Number>().DoubleValue();
  if (!(size >= 0) || size > 1e10) throw Napi::RangeError::New(info.Env(), "size out of range");
  auto* base = static_cast<const uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
  return {base, ta.ByteLength(), static_cast<size_t>(size)};
}

uint8_t* Allocate(Napi::Env env, size_t size) {
  auto* out = static_cast<uint8_t*>(std::malloc(size ? size : 1));
  if (!out) throw Napi::Error::New(env, "xz: out of memory");
  return out;
}

class DecodeWorker : public Napi::AsyncWorker {
 public:
  DecodeWorker(Napi::Env env, Input in)
      : Napi::AsyncWorker(env, "kernmod:xz"),
        deferred_(Napi::Promise::Deferred::New(env)),
        in_(in.data, in.data + in.length),
        size_(in.size),
        out_(Allocate(env, in.size)) {}
  ~DecodeWorker() override { std::free(out_); }
  Napi::Promise Promise() { return deferred_.Promise(); }
  void Execute() override { error_ = Decode(in_.data(), in_.size(), out_, size_, &written_); }
  void OnOK() override {
    if (!error_.empty()) {
      deferred_.Reject(Napi::Error::New(Env(), "xz: " + error_).Value());
      return;
    }
    auto buf = Napi::Buffer<uint8_t>::New(Env(), out_, written_, FreeOutput);
    out_ = nullptr;  // owned by the Buffer now
    deferred_.Resolve(buf);
  }

 private:
  Napi::Promise::Deferred deferred_;
  // A copy of the input: a reference to the caller's buffer would not stop the caller from detaching it
  // (transferring it, which may free it) while the decode waits for a pool thread.
  std::vector<uint8_t> in_;
  size_t size_;
  uint8_t* out_;
  size_t written_ = 0;
  std::string error_;
};

Napi::Value DecodeAsync(const Napi::CallbackInfo& info) {
  Input in = Args(info);
  auto* w = new DecodeWorker(info.Env(), in);
  auto p = w->Promise();
  w->Queue();
  return p;
}

// decodeInto(input, output): decodes into the caller's buffer, whose length is the exact decoded size;
// returns that length. For callers that decode many modules one after another and keep none of them
// (the modinfo CLI): no allocation per module, and the same pages every time.
Napi::Value DecodeInto(const Napi::CallbackInfo& info) {
  if (info.Length() < 2 || !info[0].IsTypedArray() || !info[1].IsTypedArray()) {
    throw Napi::TypeError::New(info.Env(), "expected (Uint8Array input, Uint8Array output)");
  }
  auto in = info[0].As<Napi::TypedArray>();
  auto out = info[1].As<Napi::TypedArray>();
  auto* inData = static_cast<const uint8_t*>(in.ArrayBuffer().Data()) + in.ByteOffset();
  auto* outData = static_cast<uint8_t*>(out.ArrayBuffer().Data()) + out.ByteOffset();
  size_t written = 0;
  std::string error = Decode(inData, in.ByteLength(), outData, out.ByteLength(), &written);
  if (!error.empty()) throw Napi::Error::New(info.Env(), "xz: " + error);
  return Napi::Number::New(info.Env(), static_cast<double>(written));
}

// readFile(path, buffer): a compressed module's bytes in one call, for the modinfo CLI, which reads
// thousands of them one after another: open (O_RDONLY|O_NONBLOCK|O_NOCTTY|O_CLOEXEC: a FIFO named like
// a module cannot hang it), fstat, read, close. Node's fs makes each of those a separate call through
// its JavaScript and C++ layers, and under emulation (the VM rig) that path cost more than the system
// calls themselves (~2.5 ms per file measured in the guest, against ~1 ms for the same calls from C).
// Returns the bytes read when the file is regular and fits `buffer` (fewer than its size only if it
// shrank meanwhile); its size, without reading, when it is larger than `buffer` (the caller grows the
// buffer and calls again); -errno of the failed call; or kNotRegular.
constexpr double kNotRegular = -4096;

// Reads the regular file at `path` into buf[0..cap): the bytes read, the file's size when larger than
// `cap` (nothing read), -errno of the failed call, or kNotRegular. Safe on any thread. A path with a
// NUL inside gives -EINVAL: open() would see only the part before it, another file.
double ReadWhole(const std::string& path, uint8_t* buf, size_t cap) {
  if (path.find('\0') != std::string::npos) return -EINVAL;
  int fd = open(path.c_str(), O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) return -errno;
  struct stat st;
  double ret;
  if (fstat(fd, &st) != 0) {
    ret = -errno;
  } else if (!S_ISREG(st.st_mode)) {
    ret = kNotRegular;
  } else if (static_cast<uint64_t>(st.st_size) > cap) {
    ret = static_cast<double>(st.st_size);
  } else {
    size_t size = static_cast<size_t>(st.st_size), got = 0;
    ret = 0;
    while (got < size) {
      ssize_t n = read(fd, buf + got, size - got);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        ret = -errno;
        break;
      }
      if (n == 0) break;  // the file shrank
      got += static_cast<size_t>(n);
    }
    if (ret == 0) ret = static_cast<double>(got);
  }
  close(fd);
  return ret;
}

Napi::Value ReadFile(const Napi::CallbackInfo& info) {
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsTypedArray()) {
    throw Napi::TypeError::New(info.Env(), "expected (string path, Uint8Array buffer)");
  }
  std::string path = info[0].As<Napi::String>().Utf8Value();
  auto ta = info[1].As<Napi::TypedArray>();
  auto* buf = static_cast<uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
  return Napi::Number::New(info.Env(), ReadWhole(path, buf, ta.ByteLength()));
}

// readDecodeBatch(paths, inputBytes, outputBytes) -> Promise<{code, fileSize, input, image}[]>: on a
// thread-pool thread, read each file whole and decode it as one .xz stream, the inputs one after another
// in an input area of `inputBytes` and the images one after another in an output area of `outputBytes`
// (each at a 16-byte boundary). For the modinfo CLI over a tree of .ko.xz: liblzma is most of the work,
// and this runs it on every core while the main thread parses what is already decoded, in one Node
// instance. A batch of files per hop, because a hop to the pool and back costs as much as decoding a
// small module (a few hundred microseconds on the host, more under emulation).
//
// Both areas are the addon's own, allocated here and handed to JavaScript only when the call settles
// (as external ArrayBuffers the garbage collector frees): the caller has no buffer the pool thread
// writes to, so nothing it does meanwhile (a detach, a transfer) can pull memory from under the call.
//
// Only the plain case is decoded; the caller's synchronous path takes every other file and reports it
// exactly. Per file: `code` is the decoded length when the file is a regular file that is exactly one
// .xz stream (no padding or data after it) decoding without error in the space left; else -errno (open,
// fstat, read), kNotRegular, kNotPlainXz, kInputTooSmall (fileSize: the file's size) or kOutputTooSmall
// (it did not fit in the space left). `input` holds the bytes read, `image` the decoded ones (empty
// unless code >= 0). Never rejects.
constexpr double kInputTooSmall = -4097;
constexpr double kOutputTooSmall = -4098;
constexpr double kNotPlainXz = -4099;

// The areas of batches JavaScript has let go of (their ArrayBuffers collected), kept on the thread that
// made them for the next batches: a fresh area costs a page fault per page written (without this, the
// 6.12 .ko.xz tree took ~0.6 s more system time on the host). A batch takes only an area of its size.
class SpareAreas {
 public:
  ~SpareAreas() {
    for (auto& a : list_) std::free(a.data);
  }
  uint8_t* Take(size_t size) {
    for (size_t i = 0; i < list_.size(); i++) {
      if (list_[i].size != size) continue;
      uint8_t* data = list_[i].data;
      list_[i] = list_.back();
      list_.pop_back();
      return data;
    }
    return static_cast<uint8_t*>(std::malloc(size ? size : 1));
  }
  void Give(uint8_t* data, size_t size) {
    if (list_.size() < kMaxSpare) {
      list_.push_back({data, size});
    } else {
      std::free(data);
    }
  }

 private:
  static constexpr size_t kMaxSpare = 16;
  struct Area {
    uint8_t* data;
    size_t size;
  };
  std::vector<Area> list_;
};
// Batches are made, and their ArrayBuffers finalized, on the JavaScript thread of their environment.
thread_local SpareAreas spareAreas;

class ReadDecodeBatch : public Napi::AsyncWorker {
 public:
  ReadDecodeBatch(Napi::Env env, std::vector<std::string> paths, size_t inCap, size_t outCap)
      : Napi::AsyncWorker(env, "kernmod:xz-batch"),
        deferred_(Napi::Promise::Deferred::New(env)),
        paths_(std::move(paths)),
        files_(paths_.size()),
        in_(spareAreas.Take(inCap)),
        inCap_(inCap),
        out_(spareAreas.Take(outCap)),
        outCap_(outCap) {}
  ~ReadDecodeBatch() override {
    if (in_) spareAreas.Give(in_, inCap_);
    if (out_) spareAreas.Give(out_, outCap_);
  }
  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    if (!in_ || !out_) {
      SetError("xz: out of memory");
      return;
    }
    size_t inPos = 0, outPos = 0;
    for (size_t i = 0; i < paths_.size(); i++) {
      File& f = files_[i];
      f.inOffset = inPos;
      f.outOffset = outPos;
      double n = ReadWhole(paths_[i], in_ + inPos, inCap_ - inPos);
      if (n < 0) {
        f.code = n;
        continue;
      }
      f.fileSize = n;
      if (n > static_cast<double>(inCap_ - inPos)) {
        f.code = kInputTooSmall;
        continue;
      }
      f.inLength = static_cast<size_t>(n);
      size_t written = 0;
      f.code = DecodeOne(in_ + inPos, f.inLength, out_ + outPos, outCap_ - outPos, &written);
      inPos += f.inLength;
      if (f.code >= 0) outPos = std::min(outCap_, (outPos + written + 15) & ~static_cast<size_t>(15));
    }
  }

  void OnOK() override {
    Napi::Env env = Env();
    // From here the two areas belong to their ArrayBuffers, which give them back when collected.
    auto input = Napi::ArrayBuffer::New(env, in_, inCap_, GiveBack, AsHint(inCap_));
    in_ = nullptr;
    auto output = Napi::ArrayBuffer::New(env, out_, outCap_, GiveBack, AsHint(outCap_));
    out_ = nullptr;
    auto list = Napi::Array::New(env, files_.size());
    for (size_t i = 0; i < files_.size(); i++) {
      const File& f = files_[i];
      auto o = Napi::Object::New(env);
      o.Set("code", Napi::Number::New(env, f.code));
      o.Set("fileSize", Napi::Number::New(env, f.fileSize));
      o.Set("input", Napi::Uint8Array::New(env, f.inLength, input, f.inOffset));
      o.Set("image", Napi::Uint8Array::New(env, f.code >= 0 ? static_cast<size_t>(f.code) : 0, output, f.outOffset));
      list.Set(static_cast<uint32_t>(i), o);
    }
    deferred_.Resolve(list);
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  // An area's size rides in the finalizer's hint pointer.
  static void* AsHint(size_t size) { return reinterpret_cast<void*>(static_cast<uintptr_t>(size)); }
  static void GiveBack(Napi::Env, void* data, void* hint) {
    spareAreas.Give(static_cast<uint8_t*>(data), static_cast<size_t>(reinterpret_cast<uintptr_t>(hint)));
  }

  struct File {
    double code = 0;
    double fileSize = 0;
    size_t inOffset = 0;
    size_t inLength = 0;
    size_t outOffset = 0;
  };

  static double DecodeOne(const uint8_t* in, size_t inLen, uint8_t* out, size_t cap, size_t* written) {
    size_t inLeft = 0;
    lzma_ret r = DecodeStream(in, inLen, out, cap, written, &inLeft);
    if (r == LZMA_STREAM_END && inLeft == 0) return static_cast<double>(*written);
    if ((r == LZMA_OK || r == LZMA_BUF_ERROR) && *written == cap) return kOutputTooSmall;
    return kNotPlainXz;
  }

  Napi::Promise::Deferred deferred_;
  std::vector<std::string> paths_;
  std::vector<File> files_;
  uint8_t* in_;  // the addon's until OnOK hands them to JavaScript
  size_t inCap_;
  uint8_t* out_;
  size_t outCap_;
};

Napi::Value ReadDecodeBatchCall(const Napi::CallbackInfo& info) {
  if (info.Length() < 3 || !info[0].IsArray() || !info[1].IsNumber() || !info[2].IsNumber()) {
    throw Napi::TypeError::New(info.Env(), "expected (string[] paths, number inputBytes, number outputBytes)");
  }
  double inCap = info[1].As<Napi::Number>().DoubleValue();
  double outCap = info[2].As<Napi::Number>().DoubleValue();
  // The modinfo CLI's decompressed-size cap is 256 MiB; 1 GiB bounds what one call may allocate.
  const double kMaxBytes = 1 << 30;
  if (!(inCap >= 0 && inCap <= kMaxBytes) || !(outCap >= 0 && outCap <= kMaxBytes)) {
    throw Napi::RangeError::New(info.Env(), "inputBytes/outputBytes: 0 to 1 GiB");
  }
  auto list = info[0].As<Napi::Array>();
  std::vector<std::string> paths;
  paths.reserve(list.Length());
  for (uint32_t i = 0; i < list.Length(); i++) {
    Napi::Value v = list.Get(i);
    if (!v.IsString()) throw Napi::TypeError::New(info.Env(), "paths: expected strings");
    paths.push_back(v.As<Napi::String>().Utf8Value());
  }
  auto* w = new ReadDecodeBatch(info.Env(), std::move(paths), static_cast<size_t>(inCap), static_cast<size_t>(outCap));
  auto p = w->Promise();
  w->Queue();
  return p;
}

Napi::Value DecodeSync(const Napi::CallbackInfo& info) {
  Input in = Args(info);
  uint8_t* out = Allocate(info.Env(), in.size);
  size_t written = 0;
  std::string error = Decode(in.data, in.length, out, in.size, &written);
  if (!error.empty()) {
    std::free(out);
    throw Napi::Error::New(info.Env(), "xz: " + error);
  }
  return Napi::Buffer<uint8_t>::New(info.Env(), out, written, FreeOutput);
}
#endif

Napi::Object Init(Napi::Env env, Napi::Object exports) {
#if defined(KERNMOD_HAVE_LZMA)
  exports.Set("available", Napi::Boolean::New(env, true));
  exports.Set("decode", Napi::Function::New(env, DecodeAsync, "decode"));
  exports.Set("decodeSync", Napi::Function::New(env, DecodeSync, "decodeSync"));
  exports.Set("decodeInto", Napi::Function::New(env, DecodeInto, "decodeInto"));
  exports.Set("readFile", Napi::Function::New(env, ReadFile, "readFile"));
  exports.Set("NOT_REGULAR", Napi::Number::New(env, kNotRegular));
  exports.Set("readDecodeBatch", Napi::Function::New(env, ReadDecodeBatchCall, "readDecodeBatch"));
  exports.Set("INPUT_TOO_SMALL", Napi::Number::New(env, kInputTooSmall));
  exports.Set("OUTPUT_TOO_SMALL", Napi::Number::New(env, kOutputTooSmall));
  exports.Set("version", Napi::String::New(env, lzma_version_string()));
#else
  exports.Set("available", Napi::Boolean::New(env, false));
#endif
  return exports;
}

}  // namespace

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return Init(env, exports); }
NODE_API_MODULE(NODE_GYP_MODULE_NAME, InitAddon)
