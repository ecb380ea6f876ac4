//===- SafeTensorsTest.cpp - Reading and writing .safetensors files -------===//

#include "dualpipe/Runtime/SafeTensors.h"

#include "RuntimeTestUtil.h"

#include <nlohmann/json.hpp>

#include <dirent.h>
#include <fstream>
#include <sstream>

using namespace dualpipe::safetensors;
using namespace dualpipe::test;

namespace {

std::string readBytes(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

void writeBytes(const std::string &path, const std::string &bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

/// A file with `header` (JSON text) and `dataBytes` bytes of data.
std::string fileWith(const std::string &header, size_t dataBytes) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i)
    out[i] = static_cast<char>(uint64_t(header.size()) >> (8 * i));
  return out + header + std::string(dataBytes, '\x01');
}

/// The error parsing `contents` gives (named "bad.safetensors").
std::string parseError(const std::string &contents) {
  TensorFile file;
  std::string error = parseSafeTensors(contents, "bad.safetensors", file);
  EXPECT_TRUE(error.empty() || file.tensors.empty())
      << "nothing is returned on error";
  return error;
}

int countFiles(const std::string &dir) {
  int count = 0;
  if (DIR *d = opendir(dir.c_str())) {
    while (dirent *entry = readdir(d))
      count += entry->d_name[0] != '.';
    closedir(d);
  }
  return count;
}

TEST(SafeTensors, RoundTrip) {
  std::vector<float> weights = {1.5f, -2.25f, 3.0f, 0.0f, 1e-30f, -7.0f};
  std::vector<double> scalar = {3.141592653589793};
  std::vector<int64_t> steps = {1, -2, int64_t(1) << 40};
  std::vector<int32_t> labels = {7, 0, -1, 2};
  TensorFile file;
  file.tensors["layer.weight"] = Tensor::f32({2, 3}, weights.data());
  file.tensors["a.scalar"] = Tensor::f64({}, scalar.data());
  file.tensors["optimizer.step"] = Tensor::i64({3}, steps.data());
  file.tensors["labels"] = Tensor::i32({2, 2}, labels.data());
  file.tensors["empty"] = Tensor::f32({0, 5}, nullptr);
  file.metadata = {{"format", "pt"}, {"step", "12"}};

  std::string dir = makeTempDir();
  std::string path = dir + "/ckpt.safetensors";
  ASSERT_EQ(writeSafeTensors(path, file), "");
  EXPECT_EQ(countFiles(dir), 1) << "no temporary file is left behind";

  TensorFile back;
  ASSERT_EQ(readSafeTensors(path, back), "");
  EXPECT_EQ(back.metadata, file.metadata);
  ASSERT_EQ(back.tensors.size(), file.tensors.size());
  for (const auto &[name, tensor] : file.tensors) {
    ASSERT_EQ(back.tensors.count(name), 1u) << name;
    EXPECT_EQ(back.tensors[name].dtype, tensor.dtype) << name;
    EXPECT_EQ(back.tensors[name].shape, tensor.shape) << name;
    EXPECT_EQ(back.tensors[name].bytes, tensor.bytes) << name;
  }
  EXPECT_EQ(back.tensors["a.scalar"].numElements(), 1);
  EXPECT_EQ(back.tensors["empty"].numElements(), 0);

  // The layout other readers expect: 8-byte aligned header, data in name
  // order.
  std::string raw = readBytes(path);
  uint64_t headerBytes = 0;
  for (int i = 7; i >= 0; --i)
    headerBytes = (headerBytes << 8) | static_cast<unsigned char>(raw[i]);
  EXPECT_EQ(headerBytes % 8, 0u);
  auto header = nlohmann::json::parse(raw.substr(8, headerBytes));
  EXPECT_EQ(header["__metadata__"]["step"], "12");
  EXPECT_EQ(header["a.scalar"]["data_offsets"], nlohmann::json({0, 8}));
  EXPECT_EQ(header["layer.weight"]["shape"], nlohmann::json({2, 3}));
  EXPECT_EQ(raw.size(), 8 + headerBytes + 8 + 0 + 16 + 24 + 24);
}

TEST(SafeTensors, WriteReplacesAtomically) {
  std::string dir = makeTempDir();
  std::string path = dir + "/params.safetensors";
  writeBytes(path, "old");
  std::vector<float> one = {1.0f};
  TensorFile file;
  file.tensors["x"] = Tensor::f32({1}, one.data());
  ASSERT_EQ(writeSafeTensors(path, file), "");
  TensorFile back;
  ASSERT_EQ(readSafeTensors(path, back), "");
  EXPECT_EQ(back.tensors["x"].bytes, file.tensors["x"].bytes);

  // A tensor whose bytes do not match its shape: nothing is written.
  file.tensors["y"] = file.tensors["x"];
  file.tensors["y"].shape = {2};
  EXPECT_EQ(writeSafeTensors(path, file),
            path + ": cannot write tensor 'y': shape [2] of F32 needs 8 bytes, "
                   "but the tensor holds 4");
  EXPECT_EQ(countFiles(dir), 1);
  ASSERT_EQ(readSafeTensors(path, back), "") << "the old file is intact";
  EXPECT_EQ(back.tensors.size(), 1u);

  file.tensors["y"].dtype = "F128";
  EXPECT_NE(writeSafeTensors(path, file).find("unknown dtype \"F128\""),
            std::string::npos);
  EXPECT_EQ(writeSafeTensors(dir + "/missing/p.safetensors", file).rfind(
                "cannot write '" + dir + "/missing/p.safetensors'", 0),
            std::string::npos)
      << "a bad tensor is reported before touching the file system";
  file.tensors.erase("y");
  EXPECT_EQ(writeSafeTensors(dir + "/missing/p.safetensors", file).rfind(
                "cannot write '" + dir + "/missing/p.safetensors' (creating ",
                0),
            0u);
}

TEST(SafeTensors, ReadsTheMlpResidualParameters) {
  std::string path =
      std::string(DUALPIPE_TESTDATA_DIR) + "/mlp-residual/params.safetensors";
  if (!std::ifstream(path).good())
    GTEST_SKIP() << "test data not found at " << path;
  TensorFile file;
  ASSERT_EQ(readSafeTensors(path, file), "");
  EXPECT_EQ(file.tensors.size(), 10u);
  for (const auto &[name, tensor] : file.tensors) {
    EXPECT_EQ(tensor.dtype, "F32") << name;
    EXPECT_EQ(int64_t(tensor.bytes.size()), tensor.numElements() * 4) << name;
  }
  const Tensor &weight = file.tensors.at("fc0.weight");
  EXPECT_EQ(weight.shape, (std::vector<int64_t>{24, 48}));
  EXPECT_EQ(weight.bytes.size(), 24u * 48u * 4u);
  EXPECT_EQ(file.tensors.at("fc4.weight").shape,
            (std::vector<int64_t>{48, 16}));
  EXPECT_EQ(file.tensors.at("fc0.bias").shape, (std::vector<int64_t>{48}));

  // fc0.bias is the second tensor in the file: its bytes come from the right
  // place.
  std::string raw = readBytes(path);
  uint64_t headerBytes = static_cast<unsigned char>(raw[0]) |
                         static_cast<unsigned char>(raw[1]) << 8;
  std::string bias = raw.substr(8 + headerBytes + 4608, 192);
  EXPECT_EQ(std::string(file.tensors.at("fc0.bias").bytes.begin(),
                        file.tensors.at("fc0.bias").bytes.end()),
            bias);

  // The same bytes parsed from memory give the same tensors.
  TensorFile parsed;
  ASSERT_EQ(parseSafeTensors(raw, path, parsed), "");
  EXPECT_EQ(parsed.tensors.at("fc3.weight").bytes,
            file.tensors.at("fc3.weight").bytes);
}

TEST(SafeTensors, TruncatedFileIsRejected) {
  std::string source =
      std::string(DUALPIPE_TESTDATA_DIR) + "/mlp-residual/params.safetensors";
  if (!std::ifstream(source).good())
    GTEST_SKIP() << "test data not found at " << source;
  std::string raw = readBytes(source);
  std::string dir = makeTempDir();
  std::string path = dir + "/truncated.safetensors";
  writeBytes(path, raw.substr(0, raw.size() - 100));
  TensorFile file;
  EXPECT_EQ(readSafeTensors(path, file),
            path + ": tensor 'fc4.bias': \"data_offsets\" [36096, 36160] run "
                   "past the end of the data section (36060 bytes): the file "
                   "is truncated");
  writeBytes(path, raw.substr(0, 500));
  EXPECT_EQ(readSafeTensors(path, file),
            path + ": the header length (792 bytes) runs past the end of the "
                   "file (500 bytes): the file is truncated");
  EXPECT_EQ(readSafeTensors(dir + "/none.safetensors", file),
            dir + "/none.safetensors: cannot open: No such file or directory");
}

TEST(SafeTensors, MalformedHeadersAreRejectedWithReasons) {
  const std::string ok = R"("w": {"dtype": "F32", "shape": [2], )"
                         R"("data_offsets": [0, 8]})";
  EXPECT_EQ(parseError(fileWith("{" + ok + "}", 8)), "")
      << "the baseline is valid";

  EXPECT_EQ(parseError("abc"), "bad.safetensors: 3 bytes is too short for a "
                               "safetensors file (the header length alone "
                               "takes 8)");
  EXPECT_EQ(parseError(std::string("\xff\xff\xff\xff\xff\xff\xff\x7f", 8) +
                       "{}"),
            "bad.safetensors: the header length (9223372036854775807 bytes) "
            "is over the 100 MB limit: not a safetensors file");
  EXPECT_EQ(parseError(fileWith("{\"w\": ", 0)).rfind(
                "bad.safetensors: the header is not valid JSON (", 0),
            0u);
  EXPECT_EQ(parseError(fileWith("[1, 2]", 0)),
            "bad.safetensors: the header is not a JSON object of tensors");
  EXPECT_EQ(parseError(fileWith("{" + ok + ", " + ok + "}", 8)),
            "bad.safetensors: tensor 'w' appears twice in the header");
  EXPECT_EQ(
      parseError(fileWith(
          R"({"w": {"dtype": "F17", "shape": [2], "data_offsets": [0, 8]}})",
          8)),
      "bad.safetensors: tensor 'w': unknown dtype \"F17\" (known: BOOL, U8, "
      "I8, F8_E5M2, F8_E4M3, I16, U16, F16, BF16, I32, U32, F32, I64, U64, "
      "F64)");
  EXPECT_EQ(parseError(fileWith(
                R"({"w": {"dtype": "F32", "data_offsets": [0, 8]}})", 8)),
            "bad.safetensors: tensor 'w': \"shape\" is missing or not an array "
            "of dimensions");
  EXPECT_EQ(
      parseError(fileWith(
          R"({"w": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}})",
          8)),
      "bad.safetensors: tensor 'w': \"shape\" [-2] has a dimension that is "
      "not a non-negative integer");
  EXPECT_EQ(parseError(fileWith(
                R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0]}})",
                8)),
            "bad.safetensors: tensor 'w': \"data_offsets\" is missing or not "
            "[begin, end] with two non-negative integers");
  EXPECT_EQ(
      parseError(fileWith(
          R"({"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}})",
          8)),
      "bad.safetensors: tensor 'w': shape [3] of F32 needs 12 bytes, but "
      "\"data_offsets\" [0, 8] hold 8");
  EXPECT_EQ(
      parseError(fileWith(
          R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [8, 0]}})",
          8)),
      "bad.safetensors: tensor 'w': \"data_offsets\" [8, 0] ends before it "
      "begins");
  EXPECT_EQ(parseError(fileWith(R"({"w": 5})", 0)),
            "bad.safetensors: tensor 'w': its entry is not a JSON object with "
            "dtype, shape and data_offsets");
  EXPECT_EQ(
      parseError(fileWith(R"({"a": {"dtype": "F32", "shape": [2], )"
                          R"("data_offsets": [0, 8]}, "b": {"dtype": "F32", )"
                          R"("shape": [2], "data_offsets": [4, 12]}})",
                          12)),
      "bad.safetensors: tensors 'a' [0, 8] and 'b' [4, 12] overlap");
  EXPECT_EQ(parseError(fileWith(
                R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})",
                12)),
            "bad.safetensors: bytes [0, 4] of the data section belong to no "
            "tensor");
  EXPECT_EQ(parseError(fileWith("{" + ok + "}", 10)),
            "bad.safetensors: the data section has 10 bytes but the tensors "
            "cover only 8");
  EXPECT_EQ(parseError(fileWith(R"({"__metadata__": {"epoch": 3}})", 0)),
            "bad.safetensors: \"__metadata__\" entry \"epoch\" is not a string "
            "(safetensors metadata maps strings to strings)");
}

TEST(SafeTensors, PaddedHeaderAndMetadataAreAccepted) {
  TensorFile file;
  ASSERT_EQ(parseSafeTensors(
                fileWith(R"({"__metadata__": {"a": "b"}, "s": {"dtype": )"
                         R"("I64", "shape": [], "data_offsets": [0, 8]}}   )",
                         8),
                "padded.safetensors", file),
            "");
  EXPECT_EQ(file.metadata.at("a"), "b");
  EXPECT_EQ(file.tensors.at("s").shape, std::vector<int64_t>{});
  EXPECT_EQ(dtypeSize("BF16"), 2);
  EXPECT_EQ(dtypeSize("F64"), 8);
  EXPECT_EQ(dtypeSize("Q4"), 0);
}

} // namespace
