//===- Buffer.cpp - One argument of a step: storage and descriptor --------===//

#include "Buffer.h"

#include "dualpipe/Runtime/Session.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>

namespace dualpipe::session {

size_t elementBytes(const std::string &dtype) {
  if (dtype == "f32" || dtype == "i32")
    return 4;
  if (dtype == "f64" || dtype == "i64")
    return 8;
  return 0;
}

bool isInteger(const std::string &dtype) {
  return dtype == "i64" || dtype == "i32";
}

std::string safetensorsDtype(const std::string &dtype) {
  std::string s = dtype;
  for (char &c : s)
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

std::string shapeString(const std::vector<int64_t> &shape) {
  std::string s;
  for (size_t i = 0; i < shape.size(); ++i)
    s += (i ? "x" : "") + std::to_string(shape[i]);
  return s.empty() ? "scalar" : s;
}

void checkSupported(const manifest::Argument &a) {
  bool data = a.role == "input" || a.role == "label";
  if (elementBytes(a.dtype) == 0 || (!data && a.dtype != "f32"))
    throw Error("the " + a.role + " '" + a.name + "' has dtype '" + a.dtype +
                "'; this runner handles f32 parameters, gradients, losses "
                "and outputs, and f32, f64, i64 or i32 inputs and labels");
}

Buffer Buffer::of(const manifest::Argument &a) {
  checkSupported(a);
  Buffer b;
  b.name = a.name;
  b.role = a.role;
  b.dtype = a.dtype;
  b.shape = a.shape;
  b.range = a.intRange;
  b.allocate();
  return b;
}

double Buffer::at(int64_t i) const {
  if (dtype == "f32")
    return f32()[i];
  if (dtype == "f64")
    return reinterpret_cast<const double *>(data())[i];
  if (dtype == "i64")
    return static_cast<double>(reinterpret_cast<const int64_t *>(data())[i]);
  return reinterpret_cast<const int32_t *>(data())[i];
}

void *Buffer::describe() {
  size_t rank = shape.size();
  descriptor.assign(3 + 2 * rank, 0);
  auto ptr = reinterpret_cast<int64_t>(storage.data());
  descriptor[0] = ptr;
  descriptor[1] = ptr;
  descriptor[2] = 0;
  int64_t stride = 1;
  for (size_t i = rank; i-- > 0;) {
    descriptor[3 + i] = shape[i];
    descriptor[3 + rank + i] = stride;
    stride *= shape[i];
  }
  return descriptor.data();
}

st::Tensor toTensor(const Buffer &b) {
  st::Tensor t;
  t.dtype = safetensorsDtype(b.dtype);
  t.shape = b.shape;
  t.bytes.assign(b.data(), b.data() + b.bytes());
  return t;
}

namespace {

/// splitmix64: a tiny, well-mixed generator; one stream per tensor name so
/// that values do not depend on the order of arguments.
uint64_t mix(uint64_t &state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

void initializeIntegers(Buffer &b, uint64_t &state) {
  if (!b.range)
    throw Error("the " + b.role + " '" + b.name + "' is " + b.dtype + " [" +
                shapeString(b.shape) +
                "] and has no range to draw synthetic values from: pass "
                "--data=FILE.safetensors holding '" +
                b.name +
                "', or mark the model argument with {dualpipe.int_range = "
                "array<i64: LO, HI>} (values in [LO, HI)) and recompile");
  auto [lo, hi] = *b.range; // lo < hi, checked with the manifest
  uint64_t span = static_cast<uint64_t>(hi) - static_cast<uint64_t>(lo);
  for (int64_t i = 0; i < b.count(); ++i) {
    uint64_t offset = static_cast<uint64_t>(
        (static_cast<unsigned __int128>(mix(state)) * span) >> 64);
    auto v = static_cast<int64_t>(static_cast<uint64_t>(lo) + offset);
    if (b.dtype == "i64")
      reinterpret_cast<int64_t *>(b.data())[i] = v;
    else
      reinterpret_cast<int32_t *>(b.data())[i] = static_cast<int32_t>(v);
  }
}

} // namespace

void initialize(Buffer &b, uint64_t seed) {
  uint64_t state = seed * 0x100000001b3ULL;
  for (char c : b.name)
    state = (state ^ static_cast<unsigned char>(c)) * 0x100000001b3ULL;
  if (isInteger(b.dtype))
    return initializeIntegers(b, state);
  double scale = 1.0;
  if (b.role == "param" && b.shape.size() >= 2)
    scale = 1.0 / std::sqrt(static_cast<double>(b.shape[0]));
  else if (b.role == "param")
    scale = 0.1;
  for (int64_t i = 0; i < b.count(); ++i) {
    double u = (mix(state) >> 11) * (1.0 / 9007199254740992.0);
    if (b.dtype == "f64")
      reinterpret_cast<double *>(b.data())[i] = (2.0 * u - 1.0) * scale;
    else
      b.f32()[i] = static_cast<float>((2.0 * u - 1.0) * scale);
  }
}

namespace {

/// I32 <-> I64 from `t`'s elements [first, first + b.count()).
void convertIntegers(Buffer &b, const st::Tensor &t, const std::string &path,
                     int64_t first) {
  for (int64_t i = 0; i < b.count(); ++i) {
    int64_t v;
    if (t.dtype == "I64") {
      std::memcpy(&v, t.bytes.data() + (first + i) * 8, 8);
    } else {
      int32_t w;
      std::memcpy(&w, t.bytes.data() + (first + i) * 4, 4);
      v = w;
    }
    if (b.dtype == "i64") {
      reinterpret_cast<int64_t *>(b.data())[i] = v;
    } else {
      if (v < INT32_MIN || v > INT32_MAX)
        throw Error(path + ": tensor '" + b.name + "' holds " +
                    std::to_string(v) +
                    ", which does not fit the step's i32");
      reinterpret_cast<int32_t *>(b.data())[i] = static_cast<int32_t>(v);
    }
  }
}

} // namespace

void loadFrom(Buffer &b, const st::TensorFile &file, const std::string &path,
              bool batched, int64_t slice) {
  auto it = file.tensors.find(b.name);
  if (it == file.tensors.end())
    throw Error(path + " has no tensor named '" + b.name + "' (the " +
                b.role + " of shape " + shapeString(b.shape) + ")");
  const st::Tensor &t = it->second;
  std::string want = safetensorsDtype(b.dtype);
  bool convertInt =
      isInteger(b.dtype) && (t.dtype == "I64" || t.dtype == "I32");
  if (t.dtype != want && !convertInt)
    throw Error(path + ": tensor '" + b.name + "' is " + t.dtype +
                "; the step takes " + want);
  bool same = t.shape == b.shape;
  bool multiple = batched && !b.shape.empty() &&
                  t.shape.size() == b.shape.size() && b.shape[0] > 0 &&
                  t.shape[0] % b.shape[0] == 0 &&
                  std::equal(t.shape.begin() + 1, t.shape.end(),
                             b.shape.begin() + 1);
  if (!same && !multiple)
    throw Error(path + ": tensor '" + b.name + "' has shape " +
                shapeString(t.shape) + ", but the model takes " +
                shapeString(b.shape));
  int64_t available = same ? 1 : t.shape[0] / b.shape[0];
  if (batched && slice >= available)
    throw Error("--microbatch=" + std::to_string(slice) + ", but " + path +
                " holds " + std::to_string(available) +
                " micro-batch(es) of '" + b.name + "'");
  int64_t first = batched ? slice * b.count() : 0;
  if (t.dtype == want) {
    // The safetensors reader checked that the bytes are the shape's.
    std::memcpy(b.data(), t.bytes.data() + first * elementBytes(b.dtype),
                b.bytes());
    return;
  }
  convertIntegers(b, t, path, first);
}

} // namespace dualpipe::session
