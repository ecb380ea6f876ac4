//===- SafeTensors.cpp - Read and write .safetensors files ----------------===//
//
// Strict on reading, like the reference implementation: a header that does
// not describe the data section exactly (gaps, overlaps, wrong sizes,
// duplicate names) is rejected, because each of those means a truncated or
// corrupted checkpoint that would otherwise load as wrong numbers.
//
//===----------------------------------------------------------------------===//

#include "dualpipe/Runtime/SafeTensors.h"

#include "dualpipe/Runtime/Files.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <set>

#ifndef __cpp_exceptions
#error "SafeTensors.cpp turns nlohmann::json exceptions into messages: build with -fexceptions"
#endif
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors data is little-endian; this build assumes a little-endian host"
#endif

namespace dualpipe::safetensors {
namespace {

using nlohmann::json;

/// The reference implementation's limit; a larger header means garbage.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;
constexpr const char *kMetadataKey = "__metadata__";
constexpr const char *kKnownDtypes = "BOOL, U8, I8, F8_E5M2, F8_E4M3, I16, "
                                     "U16, F16, BF16, I32, U32, F32, I64, U64, "
                                     "F64";

/// A tensor as the header describes it, before its bytes are read.
struct Entry {
  std::string name;
  std::string dtype;
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0; ///< Within the data section.
};

std::string formatShape(const std::vector<int64_t> &shape) {
  std::string text = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    text += (i ? ", " : "") + std::to_string(shape[i]);
  return text + "]";
}

std::string formatRange(uint64_t begin, uint64_t end) {
  return "[" + std::to_string(begin) + ", " + std::to_string(end) + "]";
}

/// The number of bytes `shape` of `dtype` needs, or false on overflow.
bool byteSize(const std::vector<int64_t> &shape, int64_t elementBytes,
              uint64_t &bytes) {
  uint64_t total = static_cast<uint64_t>(elementBytes);
  for (int64_t dim : shape)
    if (__builtin_mul_overflow(total, static_cast<uint64_t>(dim), &total))
      return false;
  bytes = total;
  return true;
}

/// A non-negative integer that fits in int64 (JSON numbers may not).
bool asSize(const json &value, uint64_t &out) {
  if (value.is_number_unsigned()) {
    out = value.get<uint64_t>();
  } else if (value.is_number_integer()) {
    if (value.get<int64_t>() < 0)
      return false;
    out = static_cast<uint64_t>(value.get<int64_t>());
  } else {
    return false;
  }
  return out <= static_cast<uint64_t>(INT64_MAX);
}

/// Checks one tensor's entry; "" or what is wrong (without the name).
std::string parseEntry(const json &value, uint64_t dataBytes, Entry &entry) {
  if (!value.is_object())
    return "its entry is not a JSON object with dtype, shape and data_offsets";

  auto dtype = value.find("dtype");
  if (dtype == value.end() || !dtype->is_string())
    return "\"dtype\" is missing or not a string (e.g. \"F32\")";
  entry.dtype = dtype->get<std::string>();
  int64_t elementBytes = dtypeSize(entry.dtype);
  if (elementBytes == 0)
    return "unknown dtype \"" + entry.dtype + "\" (known: " + kKnownDtypes +
           ")";

  auto shape = value.find("shape");
  if (shape == value.end() || !shape->is_array())
    return "\"shape\" is missing or not an array of dimensions";
  for (const json &dim : *shape) {
    uint64_t size;
    if (!asSize(dim, size))
      return "\"shape\" " + shape->dump() +
             " has a dimension that is not a non-negative integer";
    entry.shape.push_back(static_cast<int64_t>(size));
  }

  auto offsets = value.find("data_offsets");
  if (offsets == value.end() || !offsets->is_array() || offsets->size() != 2 ||
      !asSize((*offsets)[0], entry.begin) || !asSize((*offsets)[1], entry.end))
    return "\"data_offsets\" is missing or not [begin, end] with two "
           "non-negative integers";
  if (entry.begin > entry.end)
    return "\"data_offsets\" " + formatRange(entry.begin, entry.end) +
           " ends before it begins";
  if (entry.end > dataBytes)
    return "\"data_offsets\" " + formatRange(entry.begin, entry.end) +
           " run past the end of the data section (" +
           std::to_string(dataBytes) + " bytes): the file is truncated";

  uint64_t needed;
  if (!byteSize(entry.shape, elementBytes, needed))
    return "shape " + formatShape(entry.shape) + " of " + entry.dtype +
           " is too large";
  if (needed != entry.end - entry.begin)
    return "shape " + formatShape(entry.shape) + " of " + entry.dtype +
           " needs " + std::to_string(needed) + " bytes, but \"data_offsets\" " +
           formatRange(entry.begin, entry.end) + " hold " +
           std::to_string(entry.end - entry.begin);
  return "";
}

/// Parses and checks the JSON header against a data section of `dataBytes`;
/// fills `entries` sorted by offset. Messages are prefixed with `source`.
std::string parseHeader(std::string_view header, uint64_t dataBytes,
                        const std::string &source, std::vector<Entry> &entries,
                        std::map<std::string, std::string> &metadata) {
  std::set<std::string> seen;
  std::string duplicate;
  auto noteKeys = [&](int depth, json::parse_event_t event, json &parsed) {
    if (depth == 1 && event == json::parse_event_t::key && duplicate.empty() &&
        !seen.insert(parsed.get<std::string>()).second)
      duplicate = parsed.get<std::string>();
    return true;
  };
  json root;
  try {
    root = json::parse(header.begin(), header.end(), noteKeys);
  } catch (const json::parse_error &e) {
    return source + ": the header is not valid JSON (" + e.what() + ")";
  }
  if (!root.is_object())
    return source + ": the header is not a JSON object of tensors";
  if (!duplicate.empty())
    return source + ": tensor '" + duplicate +
           "' appears twice in the header";

  for (auto it = root.begin(); it != root.end(); ++it) {
    if (it.key() == kMetadataKey) {
      if (!it->is_object())
        return source + ": \"__metadata__\" is not a JSON object of strings";
      for (auto item = it->begin(); item != it->end(); ++item) {
        if (!item->is_string())
          return source + ": \"__metadata__\" entry \"" + item.key() +
                 "\" is not a string (safetensors metadata maps strings to "
                 "strings)";
        metadata[item.key()] = item->get<std::string>();
      }
      continue;
    }
    Entry entry;
    entry.name = it.key();
    std::string problem = parseEntry(*it, dataBytes, entry);
    if (!problem.empty())
      return source + ": tensor '" + entry.name + "': " + problem;
    entries.push_back(std::move(entry));
  }

  // The tensors must tile the data section exactly.
  std::sort(entries.begin(), entries.end(), [](const Entry &a, const Entry &b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t covered = 0;
  const Entry *previous = nullptr;
  for (const Entry &entry : entries) {
    if (entry.begin < covered && previous)
      return source + ": tensors '" + previous->name + "' " +
             formatRange(previous->begin, previous->end) + " and '" +
             entry.name + "' " + formatRange(entry.begin, entry.end) +
             " overlap";
    if (entry.begin > covered)
      return source + ": bytes " + formatRange(covered, entry.begin) +
             " of the data section belong to no tensor";
    covered = entry.end;
    previous = &entry;
  }
  if (covered != dataBytes)
    return source + ": the data section has " + std::to_string(dataBytes) +
           " bytes but the tensors cover only " + std::to_string(covered);
  return "";
}

/// Reads the 8-byte header length and checks it against the file size.
std::string parseHeaderLength(const unsigned char prefix[8], uint64_t fileBytes,
                              const std::string &source, uint64_t &length) {
  length = 0;
  for (int i = 7; i >= 0; --i)
    length = (length << 8) | prefix[i];
  if (length > kMaxHeaderBytes)
    return source + ": the header length (" + std::to_string(length) +
           " bytes) is over the 100 MB limit: not a safetensors file";
  if (length > fileBytes - 8)
    return source + ": the header length (" + std::to_string(length) +
           " bytes) runs past the end of the file (" +
           std::to_string(fileBytes) + " bytes): the file is truncated";
  return "";
}

std::string tooShort(const std::string &source, uint64_t fileBytes) {
  return source + ": " + std::to_string(fileBytes) +
         " bytes is too short for a safetensors file (the header length "
         "alone takes 8)";
}

struct FileCloser {
  void operator()(std::FILE *file) const { std::fclose(file); }
};

std::string readFile(const std::string &path, TensorFile &out) {
  std::unique_ptr<std::FILE, FileCloser> file(std::fopen(path.c_str(), "rb"));
  if (!file)
    return path + ": cannot open: " + std::strerror(errno);
  auto readError = [&] {
    return path + ": cannot read: " +
           (std::ferror(file.get()) ? std::strerror(errno)
                                    : "unexpected end of file");
  };
  if (std::fseek(file.get(), 0, SEEK_END) != 0)
    return readError();
  long end = std::ftell(file.get());
  if (end < 0 || std::fseek(file.get(), 0, SEEK_SET) != 0)
    return readError();
  uint64_t fileBytes = static_cast<uint64_t>(end);
  if (fileBytes < 8)
    return tooShort(path, fileBytes);

  unsigned char prefix[8];
  if (std::fread(prefix, 1, 8, file.get()) != 8)
    return readError();
  uint64_t headerBytes;
  std::string error = parseHeaderLength(prefix, fileBytes, path, headerBytes);
  if (!error.empty())
    return error;
  std::string header(headerBytes, '\0');
  if (std::fread(header.data(), 1, headerBytes, file.get()) != headerBytes)
    return readError();

  std::vector<Entry> entries;
  error = parseHeader(header, fileBytes - 8 - headerBytes, path, entries,
                      out.metadata);
  if (!error.empty())
    return error;
  // Entries are sorted by offset and tile the data: read them in one pass,
  // straight into their tensors.
  for (Entry &entry : entries) {
    Tensor &tensor = out.tensors[entry.name];
    tensor.dtype = std::move(entry.dtype);
    tensor.shape = std::move(entry.shape);
    tensor.bytes.resize(entry.end - entry.begin);
    if (!tensor.bytes.empty() &&
        std::fread(tensor.bytes.data(), 1, tensor.bytes.size(), file.get()) !=
            tensor.bytes.size())
      return readError();
  }
  return "";
}

std::string parseContents(std::string_view contents, const std::string &source,
                          TensorFile &out) {
  if (contents.size() < 8)
    return tooShort(source, contents.size());
  uint64_t headerBytes;
  std::string error = parseHeaderLength(
      reinterpret_cast<const unsigned char *>(contents.data()), contents.size(),
      source, headerBytes);
  if (!error.empty())
    return error;
  std::string_view data = contents.substr(8 + headerBytes);
  std::vector<Entry> entries;
  error = parseHeader(contents.substr(8, headerBytes), data.size(), source,
                      entries, out.metadata);
  if (!error.empty())
    return error;
  for (Entry &entry : entries) {
    Tensor &tensor = out.tensors[entry.name];
    tensor.dtype = std::move(entry.dtype);
    tensor.shape = std::move(entry.shape);
    tensor.bytes.assign(data.begin() + entry.begin, data.begin() + entry.end);
  }
  return "";
}

std::string writeFile(const std::string &path, const TensorFile &file) {
  // ordered_json keeps "__metadata__" first, as the reference writer does.
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!file.metadata.empty())
    header[kMetadataKey] = file.metadata;
  uint64_t offset = 0;
  for (const auto &entry : file.tensors) {
    // Not a structured binding: a lambda may not capture one before C++20.
    const std::string &name = entry.first;
    const Tensor &tensor = entry.second;
    auto problem = [&](const std::string &what) {
      return path + ": cannot write tensor '" + name + "': " + what;
    };
    if (name == kMetadataKey)
      return problem("the name is reserved for the metadata");
    int64_t elementBytes = dtypeSize(tensor.dtype);
    if (elementBytes == 0)
      return problem("unknown dtype \"" + tensor.dtype + "\" (known: " +
                     kKnownDtypes + ")");
    for (int64_t dim : tensor.shape)
      if (dim < 0)
        return problem("shape " + formatShape(tensor.shape) +
                       " has a negative dimension");
    uint64_t needed;
    if (!byteSize(tensor.shape, elementBytes, needed))
      return problem("shape " + formatShape(tensor.shape) + " is too large");
    if (needed != tensor.bytes.size())
      return problem("shape " + formatShape(tensor.shape) + " of " +
                     tensor.dtype + " needs " + std::to_string(needed) +
                     " bytes, but the tensor holds " +
                     std::to_string(tensor.bytes.size()));
    header[name] = {{"dtype", tensor.dtype},
                    {"shape", tensor.shape},
                    {"data_offsets", {offset, offset + needed}}};
    offset += needed;
  }

  std::string text;
  try {
    text = header.dump();
  } catch (const nlohmann::ordered_json::type_error &) {
    return path + ": cannot write: tensor names and metadata must be valid "
                  "UTF-8";
  }
  // Pad with spaces so the data section starts 8-byte aligned.
  text.append((8 - text.size() % 8) % 8, ' ');
  unsigned char prefix[8];
  for (int i = 0; i < 8; ++i)
    prefix[i] = static_cast<unsigned char>(uint64_t(text.size()) >> (8 * i));

  std::vector<std::string_view> pieces;
  pieces.emplace_back(reinterpret_cast<const char *>(prefix), 8);
  pieces.emplace_back(text);
  for (const auto &entry : file.tensors)
    pieces.emplace_back(
        reinterpret_cast<const char *>(entry.second.bytes.data()),
        entry.second.bytes.size());
  return rt::writeFileAtomically(path, pieces.data(), pieces.size());
}

/// Keeps exceptions (out of memory, mostly) from leaving the API.
template <typename Body>
std::string noThrow(const std::string &source, Body &&body) {
  try {
    return body();
  } catch (const std::exception &e) {
    return source + ": " + e.what();
  }
}

template <typename T>
Tensor makeTensor(const char *dtype, std::vector<int64_t> shape,
                  const T *values) {
  Tensor tensor;
  tensor.dtype = dtype;
  tensor.shape = std::move(shape);
  size_t bytes = static_cast<size_t>(tensor.numElements()) * sizeof(T);
  tensor.bytes.resize(bytes);
  if (bytes)
    std::memcpy(tensor.bytes.data(), values, bytes);
  return tensor;
}

} // namespace

int64_t dtypeSize(std::string_view dtype) {
  static const std::map<std::string_view, int64_t> sizes = {
      {"BOOL", 1}, {"U8", 1},  {"I8", 1},   {"F8_E5M2", 1}, {"F8_E4M3", 1},
      {"I16", 2},  {"U16", 2}, {"F16", 2},  {"BF16", 2},    {"I32", 4},
      {"U32", 4},  {"F32", 4}, {"I64", 8},  {"U64", 8},     {"F64", 8}};
  auto it = sizes.find(dtype);
  return it == sizes.end() ? 0 : it->second;
}

int64_t Tensor::numElements() const {
  int64_t count = 1;
  for (int64_t dim : shape)
    count *= dim;
  return count;
}

Tensor Tensor::f32(std::vector<int64_t> shape, const float *values) {
  return makeTensor("F32", std::move(shape), values);
}
Tensor Tensor::f64(std::vector<int64_t> shape, const double *values) {
  return makeTensor("F64", std::move(shape), values);
}
Tensor Tensor::i64(std::vector<int64_t> shape, const int64_t *values) {
  return makeTensor("I64", std::move(shape), values);
}
Tensor Tensor::i32(std::vector<int64_t> shape, const int32_t *values) {
  return makeTensor("I32", std::move(shape), values);
}

std::string readSafeTensors(const std::string &path, TensorFile &out) {
  out = TensorFile();
  std::string error = noThrow(path, [&] { return readFile(path, out); });
  if (!error.empty())
    out = TensorFile();
  return error;
}

std::string parseSafeTensors(std::string_view contents,
                             const std::string &source, TensorFile &out) {
  out = TensorFile();
  std::string error =
      noThrow(source, [&] { return parseContents(contents, source, out); });
  if (!error.empty())
    out = TensorFile();
  return error;
}

std::string writeSafeTensors(const std::string &path, const TensorFile &file) {
  return noThrow(path, [&] { return writeFile(path, file); });
}

} // namespace dualpipe::safetensors
