//===- ReadersFuzz.cpp - Fuzz the manifest and safetensors readers -------===//
//
// One libFuzzer target for the two readers of untrusted files: the first
// byte picks the reader ('S': safetensors, anything else: manifest.json),
// the rest is the file. Beyond "never crash, never leak, never an
// uncaught exception" (the sanitizers and libFuzzer watch those), what a
// reader accepts must be consistent:
//   - a manifest that parses writes back and parses again to the same text,
//     and its abi text can be computed;
//   - a refused manifest always has an error message;
//   - every tensor of an accepted safetensors file holds exactly the bytes
//     its dtype and shape need.
//
//===----------------------------------------------------------------------===//

#include "dualpipe/Runtime/Manifest.h"
#include "dualpipe/Runtime/SafeTensors.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace {

[[noreturn]] void broken(const char *what) {
  std::fprintf(stderr, "reader invariant broken: %s\n", what);
  std::abort();
}

void manifest(const std::string &text) {
  using namespace dualpipe::manifest;
  Manifest m;
  std::string error;
  if (!parseManifest(text, m, error, "fuzz.json")) {
    if (error.empty())
      broken("a refused manifest without a message");
    return;
  }
  if (!validateManifest(m).empty())
    broken("an accepted manifest fails validateManifest");
  std::string written = writeManifest(m);
  Manifest back;
  if (!parseManifest(written, back, error, "again.json"))
    broken("a written manifest does not parse");
  if (writeManifest(back) != written)
    broken("write(parse(write(m))) != write(m)");
  (void)m.abiSignature();
}

void safetensors(const std::string &contents) {
  using namespace dualpipe::safetensors;
  TensorFile file;
  std::string error = parseSafeTensors(contents, "fuzz.safetensors", file);
  if (!error.empty()) {
    if (!file.tensors.empty())
      broken("a refused file returned tensors");
    return;
  }
  for (const auto &[name, tensor] : file.tensors) {
    uint64_t bytes = static_cast<uint64_t>(dtypeSize(tensor.dtype));
    for (int64_t d : tensor.shape)
      if (d < 0 || __builtin_mul_overflow(bytes, static_cast<uint64_t>(d),
                                          &bytes))
        broken("an accepted tensor with a bad shape");
    if (bytes != tensor.bytes.size())
      broken("an accepted tensor whose bytes are not its shape's");
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0)
    return 0;
  std::string rest(reinterpret_cast<const char *>(data) + 1, size - 1);
  if (data[0] == 'S')
    safetensors(rest);
  else
    manifest(rest);
  return 0;
}
