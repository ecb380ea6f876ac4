//===- SafeTensors.h - Read and write .safetensors files --------*- C++ -*-===//
//
// Parameters, data, gradients and checkpoints are safetensors files: an
// 8-byte little-endian header length, a JSON header mapping each tensor name
// to {dtype, shape, data_offsets} (plus an optional "__metadata__" map of
// strings), then the raw little-endian bytes.
//
// Errors are values, never exceptions: every function returns "" on success
// or a message naming the file, the tensor and what is wrong with it.
//
//===----------------------------------------------------------------------===//

#ifndef DUALPIPE_RUNTIME_SAFETENSORS_H
#define DUALPIPE_RUNTIME_SAFETENSORS_H

#include "dualpipe/Runtime/Runtime.h"

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace dualpipe::safetensors {

/// Bytes per element of a safetensors dtype ("F32" -> 4), or 0 if unknown.
/// Known: BOOL U8 I8 F8_E5M2 F8_E4M3 I16 U16 F16 BF16 I32 U32 F32 I64 U64 F64.
DUALPIPE_RT_EXPORT int64_t dtypeSize(std::string_view dtype);

struct DUALPIPE_RT_EXPORT Tensor {
  std::string dtype;                ///< "F32", "F64", "I64", "I32", ...
  std::vector<int64_t> shape;       ///< Empty for a scalar.
  std::vector<unsigned char> bytes; ///< Row-major, little-endian.

  /// The product of the shape (1 for a scalar).
  int64_t numElements() const;

  /// A tensor holding a copy of numElements(shape) values.
  static Tensor f32(std::vector<int64_t> shape, const float *values);
  static Tensor f64(std::vector<int64_t> shape, const double *values);
  static Tensor i64(std::vector<int64_t> shape, const int64_t *values);
  static Tensor i32(std::vector<int64_t> shape, const int32_t *values);
};

struct TensorFile {
  std::map<std::string, Tensor> tensors; ///< By name (so sorted).
  std::map<std::string, std::string> metadata;
};

/// Reads `path` into `out` (replacing its contents). The file must be
/// complete and consistent: every tensor's byte range matches its dtype and
/// shape, ranges do not overlap, and together they cover the data section.
DUALPIPE_RT_EXPORT std::string readSafeTensors(const std::string &path,
                                               TensorFile &out);

/// Parses a whole file already in memory; `source` names it in messages.
DUALPIPE_RT_EXPORT std::string parseSafeTensors(std::string_view contents,
                                                const std::string &source,
                                                TensorFile &out);

/// Writes `file` to `path` atomically (a temporary file in the same folder,
/// then rename): tensors in name order, metadata only if non-empty.
DUALPIPE_RT_EXPORT std::string writeSafeTensors(const std::string &path,
                                                const TensorFile &file);

} // namespace dualpipe::safetensors

#endif // DUALPIPE_RUNTIME_SAFETENSORS_H
