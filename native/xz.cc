// kernmod_xz: xz decoding with the system's liblzma, for reading .ko.xz modules in user space, and
// depmod's module reader (plain and .xz modules read on the thread pool, below).
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
#include <cstring>
#include <algorithm>
#include <string>
#include <string_view>
#include <unordered_map>
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

// A module file that is not a regular file (a directory, a FIFO: O_NONBLOCK, so its open cannot hang).
constexpr double kNotRegular = -4096;

// Opens the regular file at `path`: its descriptor, and its size in *size; else -errno of the failed call
// or kNotRegular, with nothing left open. Safe on any thread. A path with a NUL inside gives -EINVAL:
// open() would see only the part before it, another file.
int OpenRegular(const std::string& path, uint64_t* size) {
  if (path.find('\0') != std::string::npos) return -EINVAL;
  int fd = open(path.c_str(), O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) return -errno;
  struct stat st;
  int err = fstat(fd, &st) != 0 ? -errno : S_ISREG(st.st_mode) ? 0 : static_cast<int>(kNotRegular);
  if (err != 0) {
    close(fd);
    return err;
  }
  *size = static_cast<uint64_t>(st.st_size);
  return fd;
}

// Reads the regular file at `path` into buf[0..cap): the bytes read, the file's size when larger than
// `cap` (nothing read), or OpenRegular's or read's failure.
double ReadWhole(const std::string& path, uint8_t* buf, size_t cap) {
  uint64_t size = 0;
  int fd = OpenRegular(path, &size);
  if (fd < 0) return fd;
  double ret = size > cap ? static_cast<double>(size) : 0;
  size_t got = 0;
  while (ret == 0 && got < size) {
    ssize_t n = read(fd, buf + got, size - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) ret = -errno;
    if (n <= 0) break;  // 0: the file shrank
    got += static_cast<size_t>(n);
  }
  if (ret == 0) ret = static_cast<double>(got);
  close(fd);
  return ret;
}

// readDecodeBatch(paths, inputBytes, outputBytes) -> Promise<{code, fileSize, input, image}[]>: on a
// thread-pool thread, read each file whole and decode it as one .xz stream, the inputs one after another
// in an input area of `inputBytes` and the images one after another in an output area of `outputBytes`
// (each at a 16-byte boundary). For the modinfo CLI over a module tree: liblzma is most of the work of
// a .ko.xz tree and opening the files most of a .ko tree's (on 9p each open is round trips to the host),
// and this does both on the pool's threads while the main thread parses what is already read, in one
// Node instance. A batch of files per hop, because a hop to the pool and back costs as much as decoding a
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
// (it did not fit in the space left). `input` holds the bytes read (the whole file, plain or not), `image`
// the decoded ones (empty unless code >= 0). Never rejects.
constexpr double kInputTooSmall = -4097;
constexpr double kOutputTooSmall = -4098;
constexpr double kNotPlainXz = -4099;

// The areas of batches JavaScript has let go of (released, or their ArrayBuffers collected), kept on the
// thread that made them for the next batches: a fresh area costs a page fault per page written (without
// this, the 6.12 .ko.xz tree took ~0.6 s more system time on the host). A batch takes only an area of its
// size. `lent` are the areas JavaScript holds now: the only ones releaseArea() detaches.
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
  void Lend(uint8_t* data) { lent_.push_back(data); }
  bool Lent(const void* data) const { return std::find(lent_.begin(), lent_.end(), data) != lent_.end(); }
  void Give(uint8_t* data, size_t size) {
    auto it = std::find(lent_.begin(), lent_.end(), data);
    if (it != lent_.end()) {
      *it = lent_.back();
      lent_.pop_back();
    }
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
  std::vector<uint8_t*> lent_;  // a few batches' worth: the modinfo CLI releases each batch it is done with
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
    // From here the two areas belong to their ArrayBuffers, which give them back when released or collected.
    auto input = Napi::ArrayBuffer::New(env, in_, inCap_, GiveBack, AsHint(inCap_));
    spareAreas.Lend(in_);
    in_ = nullptr;
    auto output = Napi::ArrayBuffer::New(env, out_, outCap_, GiveBack, AsHint(outCap_));
    spareAreas.Lend(out_);
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

// A batch call's paths argument, every element a string.
std::vector<std::string> PathsArg(const Napi::Array& list) {
  std::vector<std::string> paths;
  paths.reserve(list.Length());
  for (uint32_t i = 0; i < list.Length(); i++) {
    Napi::Value v = list.Get(i);
    if (!v.IsString()) throw Napi::TypeError::New(list.Env(), "paths: expected strings");
    paths.push_back(v.As<Napi::String>().Utf8Value());
  }
  return paths;
}

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
  std::vector<std::string> paths = PathsArg(info[0].As<Napi::Array>());
  auto* w = new ReadDecodeBatch(info.Env(), std::move(paths), static_cast<size_t>(inCap), static_cast<size_t>(outCap));
  auto p = w->Promise();
  w->Queue();
  return p;
}

// releaseArea(area): detaches an ArrayBuffer that readDecodeBatch handed over (the `input` or `image`
// views' buffer), once the caller is done with it, so that the area goes back to the spare areas now and
// not when the garbage collector gets to it: V8 counts each area as external memory, and a whole-tree
// modinfo that left them to the collector ran a full collection every few batches and wrote fresh pages
// every time. Every view of it is empty afterwards. Detached or empty already: nothing to do.
Napi::Value ReleaseArea(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsArrayBuffer()) throw Napi::TypeError::New(info.Env(), "expected (ArrayBuffer area)");
  auto area = info[0].As<Napi::ArrayBuffer>();
  if (area.IsDetached() || area.ByteLength() == 0) return info.Env().Undefined();
  if (!spareAreas.Lent(area.Data())) throw Napi::TypeError::New(info.Env(), "not an area readDecodeBatch handed over");
  area.Detach();
  return info.Env().Undefined();
}

// ---- depmod's module reader ------------------------------------------------------------------------------
// depmodReadBatch(paths, crcs) -> Promise<Array<number | [info, exports, exportCount, needs, weak, crcs]>>: on a
// thread-pool thread, each file read whole (an .xz one decoded) and what depmod needs pulled from its ELF,
// exactly as lib/depmod/module-symbols.ts pulls it (the reference; see there for kmod's rules). Both cores
// then read and decode while the main thread only indexes: this moves the bench's depmod figures
// (bench/RESULTS.md). Only the plain case is handled here; for anything else (an error of any kind, gzip,
// zstd, a malformed ELF, more than one .xz stream) the file's entry is a number and the caller reads it
// with module-symbols.ts, which reports each case exactly. Strings are latin1 (one char per byte):
// info "aVALUE" / "sVALUE" (alias / softdep) NUL-joined, exports and needs names NUL-joined, weak one
// '0'/'1' per need, crcs (with `crcs` only) a BigUint64Array of the exports' CRCs then the needs'.
constexpr double kReadInJs = -1;
constexpr uint64_t kMaxModuleBytes = UINT64_C(256) << 20;       // lib/compress's DEFAULT_MAX_DECOMPRESSED_BYTES
constexpr uint64_t kWholeBelow = 64 * 1024;                     // smaller files in one read (as read-module.ts)
constexpr uint8_t kXzMagic[6] = {0xfd, '7', 'z', 'X', 'Z', 0};  // an .xz stream's header

struct ModuleResult {
  bool ok = false;
  std::string info, exports, needs, weak;
  size_t exportCount = 0, needCount = 0;
  std::vector<uint64_t> crcs;  // exports' then needs'
};

// The file's bytes, and for an .xz file its decoded image, reused by each pool thread between files.
thread_local std::vector<uint8_t> fileBytes;
thread_local std::vector<uint8_t> imageBytes;

// Exactly one .xz stream, nothing after it, at most kMaxModuleBytes decoded, into imageBytes.
bool DecodeXzImage(const uint8_t* in, size_t inLen, size_t* outLen) {
  if (imageBytes.size() < inLen * 4) imageBytes.resize(std::min<uint64_t>(inLen * 4, kMaxModuleBytes));
  lzma_stream& s = decoder.strm;
  if (lzma_stream_decoder(&s, UINT64_C(1) << 30, 0) != LZMA_OK) return false;
  s.next_in = in;
  s.avail_in = inLen;
  size_t done = 0;
  for (;;) {
    s.next_out = imageBytes.data() + done;
    s.avail_out = imageBytes.size() - done;
    lzma_ret r = lzma_code(&s, LZMA_FINISH);
    done = imageBytes.size() - s.avail_out;
    if (r == LZMA_STREAM_END) {
      *outLen = done;
      return s.avail_in == 0;
    }
    if (r != LZMA_OK || s.avail_out != 0 || imageBytes.size() >= kMaxModuleBytes) return false;
    imageBytes.resize(std::min<uint64_t>(imageBytes.size() * 2, kMaxModuleBytes));
  }
}

struct Section {
  uint64_t offset = 0, size = 0;
  bool found = false;
};

class Elf {
 public:
  Elf(const uint8_t* b, size_t n) : b_(b), n_(n) {}
  // parse() of lib/elf: false where it throws.
  bool Parse() {
    if (!ParseHeader()) return false;
    Section names = Header(shstrndx_);
    if (!InFile(names) || names.size == 0 || b_[names.offset + names.size - 1] != 0) return false;
    Section* found[] = {&modinfo, &symtab, &strtab, &ksymtabStrings, &versions};
    // findSection: the first section of that name (not section 0) whose contents lie in the file.
    EachWantedSection(names, [&](int k, const Section& s) {
      if (!found[k]->found && InFile(s)) *found[k] = s;
    });
    return true;
  }
  // The ELF header's part of Parse(): identification, class, byte order and the section table's bounds.
  bool ParseHeader() {
    if (n_ <= 16 || b_[0] != 0x7f || b_[1] != 'E' || b_[2] != 'L' || b_[3] != 'F') return false;
    if (b_[4] != 1 && b_[4] != 2) return false;
    if (b_[5] != 1 && b_[5] != 2) return false;
    is64_ = b_[4] == 2;
    le_ = b_[5] == 1;
    if (n_ <= (is64_ ? 64u : 52u)) return false;
    machine_ = U16(18);
    shoff_ = is64_ ? U64(40) : U32(32);
    uint16_t shentsize = U16(is64_ ? 58 : 46);
    shnum_ = U16(is64_ ? 60 : 48);
    shstrndx_ = U16(is64_ ? 62 : 50);
    if (shentsize != kShentsize()) return false;
    if (shoff_ > n_ || uint64_t(shnum_) * shentsize > n_ - shoff_) return false;
    return shstrndx_ != 0 && shstrndx_ < shnum_;
  }
  // f(k, section) for each section (not section 0) named kWantedSections[k], in table order; `names`
  // is the section name table, NUL-terminated.
  template <typename F>
  void EachWantedSection(const Section& names, F f) const {
    const char* table = reinterpret_cast<const char*>(b_ + names.offset);
    for (uint16_t i = 1; i < shnum_; i++) {
      uint32_t nameOff = U32(shoff_ + uint64_t(i) * kShentsize());
      if (nameOff >= names.size) continue;
      for (int k = 0; k < 5; k++) {
        if (std::strcmp(table + nameOff, kWantedSections[k]) == 0) f(k, Header(i));
      }
    }
  }
  bool InFile(const Section& s) const { return s.offset <= n_ && s.size <= n_ - s.offset; }
  // Section `i`'s offset and size from its header (i < shnum).
  Section Header(uint32_t i) const {
    uint64_t h = shoff_ + uint64_t(i) * kShentsize();
    return {is64_ ? U64(h + 24) : U32(h + 16), is64_ ? U64(h + 32) : U32(h + 20), true};
  }
  uint16_t U16(uint64_t at) const { return le_ ? b_[at] | b_[at + 1] << 8 : b_[at] << 8 | b_[at + 1]; }
  uint32_t U32(uint64_t at) const {
    uint32_t a = U16(at), b = U16(at + 2);
    return le_ ? a | b << 16 : a << 16 | b;
  }
  uint64_t U64(uint64_t at) const {
    uint64_t a = U32(at), b = U32(at + 4);
    return le_ ? a | b << 32 : a << 32 | b;
  }

  const uint8_t* b_;
  size_t n_;
  bool is64_ = false, le_ = true;
  uint16_t machine_ = 0, shnum_ = 0, shstrndx_ = 0;
  uint64_t shoff_ = 0;
  Section modinfo, symtab, strtab, ksymtabStrings, versions;

 private:
  static constexpr const char* kWantedSections[5] = {".modinfo", ".symtab", ".strtab", "__ksymtab_strings", "__versions"};
  uint32_t kShentsize() const { return is64_ ? 64 : 40; }
};

// Fills fileBytes[offset, offset + length) from the file; false when it ends before.
bool ReadRange(int fd, uint64_t offset, uint64_t length) {
  uint64_t got = 0;
  while (got < length) {
    ssize_t n = pread(fd, fileBytes.data() + offset + got, length - got, static_cast<off_t>(offset + got));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    got += static_cast<uint64_t>(n);
  }
  return true;
}

// A plain ELF file's headers and the sections depmod reads, not the rest: a sixth of the bytes of a
// module, as kmod's mapped pages (in the VM, whole files over 9p cost more than the parse).
// Bytes between them keep an older file's: nothing reads there (sections are read with 8 bytes more,
// for the "__crc_" test at a table's end). Anything else is read whole.
bool ReadSections(int fd, uint64_t size) {
  const uint8_t* b = fileBytes.data();
  if (!ReadRange(fd, 0, 64)) return false;
  Elf e(b, size);
  if (!e.ParseHeader()) return ReadRange(fd, 64, size - 64);  // Parse() refuses it, from the whole file
  if (!ReadRange(fd, e.shoff_, uint64_t(e.shnum_) * (e.is64_ ? 64 : 40))) return false;
  Section names = e.Header(e.shstrndx_);
  if (!e.InFile(names)) return true;  // Parse() refuses it
  if (!ReadRange(fd, names.offset, names.size)) return false;
  if (names.size == 0 || b[names.offset + names.size - 1] != 0) return true;  // Parse() refuses it
  bool ok = true;
  e.EachWantedSection(names, [&](int, const Section& s) {
    if (ok && e.InFile(s)) ok = ReadRange(fd, s.offset, std::min<uint64_t>(s.size + 8, size - s.offset));
  });
  return ok;
}

// The file's bytes into fileBytes (its size in *size): with `sections`, a plain .ko's sections only.
bool ReadModuleFile(const std::string& path, bool sections, size_t* size) {
  uint64_t n = 0;
  int fd = OpenRegular(path, &n);
  if (fd < 0) return false;
  bool ok = n <= kMaxModuleBytes;
  if (ok) {
    *size = static_cast<size_t>(n);
    if (fileBytes.size() < *size) fileBytes.resize(*size);
    ok = sections && *size >= kWholeBelow ? ReadSections(fd, *size) : ReadRange(fd, 0, *size);
  }
  close(fd);
  return ok;
}

void AppendName(std::string& to, size_t& count, const uint8_t* from, size_t length) {
  if (count++ > 0) to.push_back('\0');
  to.append(reinterpret_cast<const char*>(from), length);
}

// The NUL-terminated bytes at [start, limit), to the limit when unterminated (empty when start >= limit).
size_t NameLength(const uint8_t* b, uint64_t start, uint64_t limit) {
  uint64_t e = start;
  while (e < limit && b[e] != 0) e++;
  return e > start ? e - start : 0;
}

// readModuleSymbols of module-symbols.ts over a whole image; false where it throws.
bool ModuleSymbols(const uint8_t* b, size_t n, bool crcs, ModuleResult* out) {
  Elf elf(b, n);
  if (!elf.Parse()) return false;
  size_t infoCount = 0;
  if (elf.modinfo.found) {
    for (uint64_t p = elf.modinfo.offset, end = p + elf.modinfo.size; p < end;) {
      size_t len = NameLength(b, p, end);
      std::string_view s(reinterpret_cast<const char*>(b + p), len);
      p += len + 1;
      for (std::string_view key : {std::string_view("alias"), std::string_view("softdep")}) {
        if (s.substr(0, key.size()) != key || (s.size() > key.size() && s[key.size()] != '=')) continue;
        if (infoCount++ > 0) out->info.push_back('\0');
        out->info.push_back(key[0]);
        if (s.size() > key.size()) out->info.append(s.substr(key.size() + 1));
      }
    }
  }
  const Section &sym = elf.symtab, &str = elf.strtab;
  const uint32_t entry = elf.is64_ ? 24 : 16;
  const bool table = sym.found && str.found && sym.size % entry == 0;
  const uint64_t count = table ? sym.size / entry : 0;
  const uint32_t fInfo = elf.is64_ ? 4 : 12, fShndx = elf.is64_ ? 6 : 14, fValue = elf.is64_ ? 8 : 4;
  // Exports: the __crc_ symbols, else the strings of __ksymtab_strings with CRC 0.
  bool bad = false;
  for (uint64_t i = 1; i < count; i++) {
    uint64_t at = sym.offset + i * entry;
    uint32_t nameOff = elf.U32(at);
    if (nameOff >= str.size) {
      bad = true;
      break;
    }
    uint64_t p = str.offset + nameOff;
    if (p + 6 > n || std::memcmp(b + p, "__crc_", 6) != 0) continue;
    uint64_t crc = 0;
    if (crcs) {
      uint16_t shndx = elf.U16(at + fShndx);
      crc = elf.is64_ ? elf.U64(at + fValue) : elf.U32(at + fValue);
      if (shndx != 0xfff1 && shndx != 0) {  // kmod_elf_resolve_crc
        Section s;
        if (shndx < elf.shnum_) s = elf.Header(shndx);
        if (shndx >= elf.shnum_ || !elf.InFile(s) || s.size < 4 || crc > s.size - 4) {
          crc = UINT64_MAX;
        } else {
          crc = elf.U32(s.offset + crc);
        }
      }
    }
    AppendName(out->exports, out->exportCount, b + p + 6, NameLength(b, p + 6, str.offset + str.size));
    out->crcs.push_back(crc);
  }
  if (bad || out->exportCount == 0) {
    out->exports.clear();
    out->exportCount = 0;
    out->crcs.clear();
    if (elf.ksymtabStrings.found) {
      for (uint64_t p = elf.ksymtabStrings.offset, end = p + elf.ksymtabStrings.size; p < end;) {
        size_t len = NameLength(b, p, end);
        if (len > 0) {
          AppendName(out->exports, out->exportCount, b + p, len);
          out->crcs.push_back(0);
        }
        p += len + 1;
      }
    }
  }
  if (!crcs) out->crcs.assign(out->exportCount, 0);
  // Needs: the undefined symbols with their __versions CRCs, then the __versions entries not used.
  if (!table) return true;
  const uint32_t crcSize = elf.is64_ ? 8 : 4;
  std::vector<std::string_view> versionNames;
  std::unordered_map<std::string_view, size_t> versionIndex;
  if (elf.versions.found && elf.versions.size % 64 == 0) {
    for (uint64_t i = 0; i < elf.versions.size / 64; i++) {
      uint64_t at = elf.versions.offset + i * 64;
      std::string_view name(reinterpret_cast<const char*>(b + at + crcSize), NameLength(b, at + crcSize, at + 64));
      versionNames.push_back(name);
      versionIndex.emplace(name, i);
    }
  }
  auto versionCrc = [&](size_t i) -> uint64_t {
    if (!crcs) return 0;
    uint64_t at = elf.versions.offset + i * 64;
    return crcSize == 8 ? elf.U64(at) : elf.U32(at);
  };
  std::vector<uint8_t> visited(versionNames.size());
  const bool registers = elf.machine_ == 2 || elf.machine_ == 43;  // EM_SPARC, EM_SPARCV9
  std::vector<uint64_t> needCrcs;
  for (uint64_t i = 1; i < count; i++) {
    uint64_t at = sym.offset + i * entry;
    if (elf.U16(at + fShndx) != 0) continue;
    uint8_t info = b[at + fInfo];
    if (registers && (info & 0xf) == 13) continue;  // STT_REGISTER
    uint32_t nameOff = elf.U32(at);
    if (nameOff >= str.size) {  // the whole list is dropped, as kmod drops it
      out->needs.clear();
      out->weak.clear();
      out->needCount = 0;
      needCrcs.clear();
      std::fill(visited.begin(), visited.end(), 1);
      break;
    }
    uint64_t p = str.offset + nameOff;
    if (b[p] == 0) continue;
    size_t len = NameLength(b, p, str.offset + str.size);
    auto v = versionIndex.find(std::string_view(reinterpret_cast<const char*>(b + p), len));
    uint64_t crc = 0;
    if (v != versionIndex.end()) {
      visited[v->second] = 1;
      crc = versionCrc(v->second);
    }
    AppendName(out->needs, out->needCount, b + p, len);
    out->weak.push_back(info >> 4 == 2 ? '1' : '0');  // STB_WEAK
    needCrcs.push_back(crc);
  }
  for (size_t i = 0; i < versionNames.size(); i++) {
    if (visited[i]) continue;
    AppendName(out->needs, out->needCount, reinterpret_cast<const uint8_t*>(versionNames[i].data()), versionNames[i].size());
    out->weak.push_back('0');
    needCrcs.push_back(versionCrc(i));
  }
  out->crcs.insert(out->crcs.end(), needCrcs.begin(), needCrcs.end());
  return true;
}

class DepmodReadBatch : public Napi::AsyncWorker {
 public:
  DepmodReadBatch(Napi::Env env, std::vector<std::string> paths, bool crcs)
      : Napi::AsyncWorker(env, "kernmod:depmod-read"),
        deferred_(Napi::Promise::Deferred::New(env)),
        paths_(std::move(paths)),
        results_(paths_.size()),
        crcs_(crcs) {}
  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    for (size_t i = 0; i < paths_.size(); i++) {
      ModuleResult& r = results_[i];
      size_t n = 0;
      if (!ReadModuleFile(paths_[i], !crcs_, &n)) continue;  // CRCs may point into any section: read whole
      const uint8_t* b = fileBytes.data();
      if (n > sizeof kXzMagic && std::memcmp(b, kXzMagic, sizeof kXzMagic) == 0) {
        if (!DecodeXzImage(b, n, &n)) continue;
        b = imageBytes.data();
      }
      r.ok = ModuleSymbols(b, n, crcs_, &r);
    }
  }

  void OnOK() override {
    Napi::Env env = Env();
    auto list = Napi::Array::New(env, results_.size());
    for (size_t i = 0; i < results_.size(); i++) {
      const ModuleResult& r = results_[i];
      if (!r.ok) {
        list.Set(static_cast<uint32_t>(i), Napi::Number::New(env, kReadInJs));
        continue;
      }
      auto entry = Napi::Array::New(env, 6);
      entry.Set(0u, Latin1(env, r.info));
      entry.Set(1u, Latin1(env, r.exports));
      entry.Set(2u, Napi::Number::New(env, static_cast<double>(r.exportCount)));
      entry.Set(3u, Latin1(env, r.needs));
      entry.Set(4u, Latin1(env, r.weak));
      uint32_t k = 5;
      if (crcs_) {
        auto buf = Napi::ArrayBuffer::New(env, r.crcs.size() * 8);
        if (!r.crcs.empty()) std::memcpy(buf.Data(), r.crcs.data(), r.crcs.size() * 8);
        napi_value array;
        NAPI_THROW_IF_FAILED_VOID(env, napi_create_typedarray(env, napi_biguint64_array, r.crcs.size(), buf, 0, &array));
        entry.Set(k, Napi::Value(env, array));
      }
      list.Set(static_cast<uint32_t>(i), entry);
    }
    deferred_.Resolve(list);
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  static Napi::Value Latin1(Napi::Env env, const std::string& s) {
    napi_value v;
    NAPI_THROW_IF_FAILED(env, napi_create_string_latin1(env, s.data(), s.size(), &v), Napi::Value());
    return Napi::Value(env, v);
  }

  Napi::Promise::Deferred deferred_;
  std::vector<std::string> paths_;
  std::vector<ModuleResult> results_;
  bool crcs_;
};

Napi::Value DepmodReadBatchCall(const Napi::CallbackInfo& info) {
  if (info.Length() < 2 || !info[0].IsArray() || !info[1].IsBoolean()) {
    throw Napi::TypeError::New(info.Env(), "expected (string[] paths, boolean crcs)");
  }
  std::vector<std::string> paths = PathsArg(info[0].As<Napi::Array>());
  auto* w = new DepmodReadBatch(info.Env(), std::move(paths), info[1].As<Napi::Boolean>().Value());
  auto p = w->Promise();
  w->Queue();
  return p;
}
#endif

Napi::Object Init(Napi::Env env, Napi::Object exports) {
#if defined(KERNMOD_HAVE_LZMA)
  exports.Set("available", Napi::Boolean::New(env, true));
  exports.Set("decode", Napi::Function::New(env, DecodeAsync, "decode"));
  exports.Set("decodeInto", Napi::Function::New(env, DecodeInto, "decodeInto"));
  exports.Set("readDecodeBatch", Napi::Function::New(env, ReadDecodeBatchCall, "readDecodeBatch"));
  exports.Set("INPUT_TOO_SMALL", Napi::Number::New(env, kInputTooSmall));
  exports.Set("OUTPUT_TOO_SMALL", Napi::Number::New(env, kOutputTooSmall));
  exports.Set("releaseArea", Napi::Function::New(env, ReleaseArea, "releaseArea"));
  exports.Set("depmodReadBatch", Napi::Function::New(env, DepmodReadBatchCall, "depmodReadBatch"));
  exports.Set("version", Napi::String::New(env, lzma_version_string()));
#else
  exports.Set("available", Napi::Boolean::New(env, false));
#endif
  return exports;
}

}  // namespace

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return Init(env, exports); }
NODE_API_MODULE(NODE_GYP_MODULE_NAME, InitAddon)
