//===- StepLibrary.cpp - Read the manifest, verify and load step.so -------===//
//
// Before the library is mapped it is checked against the manifest: its size
// (a truncated file would fault on first touch: SIGBUS) and its SHA-256 (a
// library of another compile, or a damaged one, would run with the wrong
// buffers). Once loaded, its exported dualpipe_step_abi must equal the
// manifest's abiSignature(): the compiler wrote both, so any edit of names,
// shapes, dtypes, roles or order in either is caught before a call.
//
//===----------------------------------------------------------------------===//

#include "CudaBackend.h"

#include "dualpipe/Runtime/Session.h"

#include <openssl/evp.h>

#include <dlfcn.h>
#include <link.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>

namespace dualpipe::session {

namespace {

constexpr const char *kRecompile =
    "recompile the step with dualpipe-compile (the library and "
    "manifest.json must be the pair it wrote)";

struct DigestDeleter {
  void operator()(EVP_MD_CTX *ctx) const { EVP_MD_CTX_free(ctx); }
};

std::string hex(const unsigned char *digest, unsigned length) {
  static const char *digits = "0123456789abcdef";
  std::string text;
  for (unsigned i = 0; i < length; ++i) {
    text += digits[digest[i] >> 4];
    text += digits[digest[i] & 15];
  }
  return text;
}

/// Reads a whole (small) file; throws Error naming it.
std::string readText(const std::string &path, const std::string &dir) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    throw Error("cannot read " + path + "; is " + dir +
                " a folder written by dualpipe-compile?");
  std::string text;
  struct stat info {};
  if (::fstat(fd, &info) != 0 || !S_ISREG(info.st_mode) ||
      info.st_size > manifest::kMaxManifestBytes) {
    ::close(fd);
    throw Error(path + " is not a dualpipe-step manifest (not a regular "
                       "file of at most 256 MiB)");
  }
  char chunk[1 << 16];
  for (;;) {
    ssize_t n = ::read(fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      int code = errno;
      ::close(fd);
      throw Error("cannot read " + path + ": " + std::strerror(code));
    }
    if (n == 0)
      break;
    text.append(chunk, static_cast<size_t>(n));
    if (static_cast<int64_t>(text.size()) > manifest::kMaxManifestBytes)
      break;
  }
  ::close(fd);
  return text;
}

} // namespace

std::string sha256Hex(const void *data, size_t bytes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned length = 0;
  if (EVP_Digest(data, bytes, digest, &length, EVP_sha256(), nullptr) != 1)
    throw Error("SHA-256 failed (OpenSSL's EVP_Digest)");
  return hex(digest, length);
}

std::string sha256File(const std::string &path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    throw Error("cannot read " + path + ": " + std::strerror(errno));
  std::unique_ptr<EVP_MD_CTX, DigestDeleter> ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1) {
    ::close(fd);
    throw Error("SHA-256 failed (OpenSSL's EVP_DigestInit_ex)");
  }
  std::vector<unsigned char> chunk(1 << 20);
  for (;;) {
    ssize_t n = ::read(fd, chunk.data(), chunk.size());
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      int code = errno;
      ::close(fd);
      throw Error("cannot read " + path + ": " + std::strerror(code));
    }
    if (n == 0)
      break;
    EVP_DigestUpdate(ctx.get(), chunk.data(), static_cast<size_t>(n));
  }
  ::close(fd);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned length = 0;
  EVP_DigestFinal_ex(ctx.get(), digest, &length);
  return hex(digest, length);
}

Manifest readManifest(const std::string &dir) {
  std::string path = dir + "/manifest.json";
  std::string text = readText(path, dir);
  Manifest m;
  std::string error;
  if (!manifest::parseManifest(text, m, error, path))
    throw Error(error);
  return m;
}

void startDevice(const Manifest &manifest, const std::string &backend,
                 int32_t device) {
  if (std::string error = startCudaBackend(manifest.target, backend, device);
      !error.empty())
    throw Error(error);
}

namespace {

/// The library file against the manifest, before it is mapped.
void verifyLibrary(const std::string &path, const Manifest &m) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0)
    throw Error("cannot load " + path + ": " + std::strerror(errno) + "; " +
                kRecompile);
  if (!S_ISREG(info.st_mode))
    throw Error("cannot load " + path + ": not a regular file; " + kRecompile);
  if (info.st_size != m.libraryBytes)
    throw Error(path + " has " + std::to_string(info.st_size) +
                " bytes, but the manifest says " +
                std::to_string(m.libraryBytes) +
                " (library_bytes): it was truncated or replaced; " +
                kRecompile);
  std::string digest = sha256File(path);
  if (digest != m.librarySha256)
    throw Error(path + " has SHA-256 " + digest +
                ", but the manifest says " + m.librarySha256 +
                " (library_sha256): it is not the library this manifest "
                "was written with; " +
                kRecompile);
}

PackedFn lookup(void *lib, const std::string &name, const std::string &path) {
  auto fn = reinterpret_cast<PackedFn>(dlsym(lib, name.c_str()));
  if (!fn)
    throw Error(path + " has no entry point '" + name + "'");
  return fn;
}

/// The first difference of two ABI texts, as "...context..." of each.
std::string firstDifference(const std::string &a, const std::string &b) {
  size_t i = 0;
  while (i < a.size() && i < b.size() && a[i] == b[i])
    ++i;
  size_t from = i > 40 ? i - 40 : 0;
  auto cut = [&](const std::string &s) {
    return "'" + (from ? std::string("...") : "") + s.substr(from, 100) +
           (s.size() > from + 100 ? "..." : "") + "'";
  };
  return "the library has " + cut(a) + ", the manifest " + cut(b);
}

} // namespace

std::unique_ptr<StepLibrary> StepLibrary::load(const std::string &dir,
                                               Manifest m) {
  std::unique_ptr<StepLibrary> step(new StepLibrary());
  std::string path = dir + "/" + m.library;
  verifyLibrary(path, m);
  step->handle_ = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!step->handle_)
    throw Error(std::string("cannot load ") + path + ": " + dlerror());
  for (const std::string &name : m.entryPoints)
    step->ranks_.push_back(lookup(step->handle_, name, path));
  if (!m.referenceEntryPoint.empty())
    step->reference_ = lookup(step->handle_, m.referenceEntryPoint, path);
  if (m.optimizer)
    step->optimizer_ = lookup(step->handle_, m.optimizer->entryPoint, path);
  const char *abi = static_cast<const char *>(
      dlsym(step->handle_, manifest::kAbiSymbol));
  if (!abi)
    throw Error(path + " exports no " + manifest::kAbiSymbol +
                " (the text of its entry points' signatures); " + kRecompile);
  std::string expected = m.abiSignature();
  // The symbol's size bounds the read: a library whose symbol is not
  // NUL-terminated within it is refused, not over-read.
  Dl_info info{};
  void *entry = nullptr;
  size_t limit = expected.size() + 1;
  if (dladdr1(abi, &info, &entry, RTLD_DL_SYMENT) && entry)
    limit = std::min<size_t>(limit,
                             static_cast<const ElfW(Sym) *>(entry)->st_size);
  std::string actual(abi, strnlen(abi, limit));
  if (actual != expected)
    throw Error(path + ": its entry points' signatures do not match the "
                "manifest's arguments (" + firstDifference(actual, expected) +
                "); " + kRecompile);
  step->dir_ = dir;
  step->manifest_ = std::move(m);
  return step;
}

StepLibrary::~StepLibrary() {
  if (handle_)
    dlclose(handle_);
}

} // namespace dualpipe::session
