//===- Buffer.h - One argument of a step: storage and descriptor -*- C++ -*-===//
//
// A tensor argument of an entry point: raw 8-byte-aligned storage of its
// dtype and the memref descriptor generated code reads ({allocated, aligned,
// offset, sizes[r], strides[r]}, 8 bytes each). Filled from safetensors
// files or synthetic values; every mismatch is an Error naming the tensor.
//
//===----------------------------------------------------------------------===//

#ifndef DUALPIPE_SESSION_BUFFER_H
#define DUALPIPE_SESSION_BUFFER_H

#include "CudaBackend.h"

#include "dualpipe/Runtime/Manifest.h"
#include "dualpipe/Runtime/SafeTensors.h"

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

namespace dualpipe::session {

namespace st = dualpipe::safetensors;

/// Bytes per element of the dtypes the runner handles (f32, f64, i64,
/// i32), else 0.
size_t elementBytes(const std::string &dtype);
bool isInteger(const std::string &dtype);
/// "f32" -> "F32": the safetensors name of a dtype.
std::string safetensorsDtype(const std::string &dtype);
/// "16x32", or "scalar".
std::string shapeString(const std::vector<int64_t> &shape);

/// Refuses an argument whose dtype the runner cannot handle in its role:
/// parameters, gradients, losses and outputs are f32; inputs and labels f32,
/// f64, i64 or i32.
void checkSupported(const manifest::Argument &a);

struct Buffer {
  std::string name, role, dtype = "f32";
  std::vector<int64_t> shape;
  std::vector<uint64_t, ArgumentAllocator<uint64_t>> storage;
  std::vector<int64_t> descriptor;
  /// Synthetic integer values are drawn from [lo, hi) (manifest int_range).
  std::optional<std::pair<int64_t, int64_t>> range;

  /// A zeroed buffer for a checked, supported argument.
  static Buffer of(const manifest::Argument &a);

  int64_t count() const {
    int64_t n = 1;
    for (int64_t d : shape)
      n *= d;
    return n;
  }
  size_t bytes() const { return count() * elementBytes(dtype); }
  /// (Re)allocates zeroed storage for count() elements.
  void allocate() { storage.assign((bytes() + 7) / 8, 0); }
  unsigned char *data() {
    return reinterpret_cast<unsigned char *>(storage.data());
  }
  const unsigned char *data() const {
    return reinterpret_cast<const unsigned char *>(storage.data());
  }
  float *f32() { return reinterpret_cast<float *>(storage.data()); }
  const float *f32() const {
    return reinterpret_cast<const float *>(storage.data());
  }
  /// Element i as a double, whatever the dtype.
  double at(int64_t i) const;
  /// Copies `other`'s values (same dtype and element count).
  void copyFrom(const Buffer &other) {
    std::memcpy(data(), other.data(), bytes());
  }
  /// The memref descriptor of the current storage.
  void *describe();
};

/// The safetensors tensor holding a copy of `b`.
st::Tensor toTensor(const Buffer &b);

/// Deterministic values from `seed` and the buffer's name: parameters
/// uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)) like PyTorch's Linear, float
/// inputs uniform(-1, 1), integers uniform in the int_range (refused
/// without one).
void initialize(Buffer &b, uint64_t seed);

/// Fills `b` from the tensor of its name in `file` (read from `path`): the
/// same shape, or with `batched`, a leading dimension that is a multiple of
/// b's, of which slice `slice` is taken. The dtype must be b's; integer
/// tensors convert between I64 and I32 when every value fits. `role` names
/// b in messages.
void loadFrom(Buffer &b, const st::TensorFile &file, const std::string &path,
              bool batched, int64_t slice);

/// The file of --params, --resume or --data; an empty one when `path` is "".
st::TensorFile readTensors(const std::string &path);

} // namespace dualpipe::session

#endif // DUALPIPE_SESSION_BUFFER_H
