//===- dualpipe/Runtime/Manifest.h - The compiler/runtime contract -*- C++ -*-===//
//
// OUTDIR/manifest.json describes a compiled step: its ranks and stages, the
// library and its entry points, every argument (role, name, dtype, shape)
// and the optimizer. dualpipe-compile writes it and dualpipe-run reads it,
// both through this one type, so the two cannot disagree on a field.
//
// Version 2 adds what ties the manifest to its library: the library's size
// and SHA-256, and `abi`, a canonical text of every entry point's signature
// (abiSignature()), which the library also exports as the NUL-terminated
// global `const char dualpipe_step_abi[]`. A version-1 manifest is refused
// ("recompile with this dualpipe-compile").
//
// Every field is checked on read (types, ranges, names, and that the counts
// agree), and nothing is indexed before it is checked. This header includes
// no JSON library and nothing here throws: the compiler, built without
// exceptions, links it (library dualpipe_manifest; the JSON code and its
// exceptions stay inside Manifest.cpp).
//
//===----------------------------------------------------------------------===//

#ifndef DUALPIPE_RUNTIME_MANIFEST_H
#define DUALPIPE_RUNTIME_MANIFEST_H

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace dualpipe::manifest {

/// The "format" every manifest carries.
inline constexpr const char *kFormat = "dualpipe-step";
/// The version this code writes and the only one it reads.
inline constexpr int64_t kVersion = 2;
/// The exported global of the library that holds abiSignature().
inline constexpr const char *kAbiSymbol = "dualpipe_step_abi";

//--- Limits (each with its reason) ------------------------------------------//

/// A local world has at most 4096 rank threads (the runtime's limit), and no
/// compiled pipeline comes near it.
inline constexpr int64_t kMaxRanks = 4096;
/// Stages of a pipeline (two per rank at most today; room to spare).
inline constexpr int64_t kMaxStages = 65536;
/// Micro-batches per step: the losses buffer holds one f32 each.
inline constexpr int64_t kMaxMicrobatches = 1 << 20;
/// Arguments of one entry point (a 96-layer GPT has about 2,400).
inline constexpr int64_t kMaxArguments = 1 << 18;
/// Dimensions of one tensor.
inline constexpr int64_t kMaxTensorRank = 16;
/// Elements of one tensor (2^40: 4 TiB of f32; more is a damaged number).
inline constexpr int64_t kMaxElements = int64_t(1) << 40;
/// Bytes of a name (parameters, inputs, entry points).
inline constexpr int64_t kMaxNameBytes = 1024;
/// Bytes of the library (1 TiB).
inline constexpr int64_t kMaxLibraryBytes = int64_t(1) << 40;
/// Bytes of a manifest file (the abi text of a deep model is a few MB).
inline constexpr int64_t kMaxManifestBytes = int64_t(256) << 20;

/// Bytes per element of a manifest dtype ("f32" -> 4), or 0 if unknown.
/// Known: i1 (stored as a byte), i8, i16, i32, i64, f16, bf16, f32, f64.
int64_t dtypeBytes(const std::string &dtype);
bool isIntegerDtype(const std::string &dtype);

/// One tensor argument of an entry point (or an output of a forward step).
struct Argument {
  /// Training steps: param, input, label, losses, grad. Forward steps:
  /// param, input, and output (the "outputs" list). Optimizer: param, grad,
  /// state, scalars.
  std::string role;
  std::string name;     ///< Forward outputs: "output<i>" (not written).
  std::string dtype;    ///< See dtypeBytes().
  std::vector<int64_t> shape; ///< Empty for a scalar.
  /// Forward steps: the ranks that use the argument ("ranks").
  std::optional<std::vector<int64_t>> ranks;
  /// Integer arguments: synthetic values are drawn from [lo, hi).
  std::optional<std::pair<int64_t, int64_t>> intRange;
  /// Optimizer state: the parameter it belongs to ("param"), when it has one.
  std::optional<std::string> param;

  /// The product of the shape (1 for a scalar). Only meaningful once the
  /// shape is checked (parseManifest, validateManifest): then it is at most
  /// kMaxElements.
  int64_t numElements() const;
  /// numElements() * dtypeBytes(dtype).
  int64_t numBytes() const;
};

struct Optimizer {
  std::string kind;       ///< "sgd", "momentum", "adamw", ...
  std::string entryPoint; ///< Packed: void f(void **args), args in order.
  std::map<std::string, double> hyperparameters;
  /// Every parameter, every gradient, the state tensors and one [2] scalars
  /// argument ([lr, t]), in call order.
  std::vector<Argument> arguments;
};

struct Manifest {
  std::string format = kFormat;
  int64_t version = kVersion;
  std::string mode;   ///< "train", or "" for the forward-only skeleton.
  std::string model;  ///< Forward steps: the model function's name.
  std::string target = "cpu"; ///< "cpu" or "cuda".
  std::string schedule;
  std::string placement; ///< linear, interleaved, dualpipe, dualpipev.
  int64_t ranks = 0;
  /// Model stages; stage_ranks has one entry per stage, two for the dualpipe
  /// placement (each stage on two mirrored ranks).
  int64_t stages = 0;
  std::vector<int64_t> stageRanks;
  int64_t microbatches = 1;
  std::string library = "step.so"; ///< A file name in the step's folder.
  int64_t libraryBytes = 0;         ///< Its size.
  std::string librarySha256;        ///< Its SHA-256, 64 lowercase hex digits.
  std::vector<std::string> entryPoints; ///< One per rank, rank 0 first.
  std::string referenceEntryPoint; ///< "" when compiled without a reference.
  /// Every entry point's arguments, in call order (the forward step's
  /// rank entry points then take the outputs).
  std::vector<Argument> arguments;
  std::vector<Argument> outputs; ///< Forward steps only.
  /// Training steps: the ranks computing each parameter's gradient, the
  /// first of which the runner takes it from.
  std::map<std::string, std::vector<int64_t>> paramRanks;
  std::optional<Optimizer> optimizer;
  std::string scheduleFile, memoryFile; ///< "" when not written.
  std::vector<int64_t> peakMemoryBytes; ///< One per rank, or empty.
  /// abiSignature() as the compiler wrote it; checked against it on read.
  std::string abi;

  bool training() const { return mode == "train"; }

  /// The canonical text of every entry point's signature, in order: the
  /// rank entry points, the reference, the optimizer; each
  ///   name(role name dtype[d0xd1], ...)
  /// e.g. "dualpipe_rank0_packed(param fc0.weight f32[24x48], input x
  /// f32[16x24], losses losses f32[8], grad fc0.weight f32[24x48])", joined
  /// by ";". A scalar is "f32[]". The forward step's entry points list the
  /// arguments then the outputs ("output output0 f32[4x8]").
  std::string abiSignature() const;

  /// The arguments the rank and reference entry points take, in call order
  /// (arguments, then outputs for a forward step).
  std::vector<Argument> entryArguments() const;
};

/// The manifest as pretty JSON (2-space indent, keys sorted), ending in a
/// newline. Optional fields are written only when set.
std::string writeManifest(const Manifest &manifest);

/// Parses and checks `text`. On failure returns false and sets `error` to
/// one line naming `source` (e.g. "out/manifest.json"), the field and what
/// is wrong, and saying what to do; `out` is then unspecified.
bool parseManifest(const std::string &text, Manifest &out, std::string &error,
                   const std::string &source = "the manifest");

/// The checks of parseManifest on a manifest already in memory, except that
/// `abi` may be empty (the compiler fills it in last): "" or the problem
/// ("field 'ranks': ..."). The compiler calls it before writing.
std::string validateManifest(const Manifest &manifest);

/// "f32[24x48]": how abiSignature() writes a tensor type.
std::string tensorType(const std::string &dtype,
                       const std::vector<int64_t> &shape);

} // namespace dualpipe::manifest

#endif // DUALPIPE_RUNTIME_MANIFEST_H
