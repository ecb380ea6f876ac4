//===- ManifestTest.cpp - manifest.json: round trip and every refusal ----===//

#include "dualpipe/Runtime/Manifest.h"

#include <gtest/gtest.h>

#include <functional>
#include <string>

namespace {

using namespace dualpipe::manifest;

Argument arg(std::string role, std::string name, std::string dtype,
             std::vector<int64_t> shape) {
  Argument a;
  a.role = std::move(role);
  a.name = std::move(name);
  a.dtype = std::move(dtype);
  a.shape = std::move(shape);
  return a;
}

/// A 2-rank DualPipe training step with a compiled optimizer, as
/// dualpipe-compile writes one.
Manifest training() {
  Manifest m;
  m.mode = "train";
  m.schedule = "dualpipe";
  m.placement = "dualpipe";
  m.ranks = 2;
  m.stages = 2;
  m.stageRanks = {0, 1, 1, 0};
  m.microbatches = 4;
  m.libraryBytes = 12345;
  m.librarySha256 = std::string(64, 'a');
  m.entryPoints = {"dualpipe_rank0_packed", "dualpipe_rank1_packed"};
  m.referenceEntryPoint = "dualpipe_reference_rank0_packed";
  m.arguments = {arg("input", "x", "f32", {8, 8}),
                 arg("param", "fc0.weight", "f32", {8, 8}),
                 arg("param", "fc0.bias", "f32", {8}),
                 arg("input", "tokens", "i64", {8, 4}),
                 arg("label", "y", "f32", {8, 8}),
                 arg("losses", "losses", "f32", {4}),
                 arg("grad", "fc0.weight", "f32", {8, 8}),
                 arg("grad", "fc0.bias", "f32", {8})};
  m.arguments[3].intRange = std::make_pair(int64_t(0), int64_t(64));
  m.paramRanks = {{"fc0.weight", {1, 0}}, {"fc0.bias", {0}}};
  Optimizer o;
  o.kind = "adamw";
  o.entryPoint = "dualpipe_optimizer_packed";
  o.hyperparameters = {{"lr", 0.001}, {"beta1", 0.9}, {"weight_decay", 0.0}};
  o.arguments = {arg("param", "fc0.weight", "f32", {8, 8}),
                 arg("param", "fc0.bias", "f32", {8}),
                 arg("grad", "fc0.weight", "f32", {8, 8}),
                 arg("grad", "fc0.bias", "f32", {8}),
                 arg("state", "fc0.weight.exp_avg", "f32", {8, 8}),
                 arg("scalars", "step", "f32", {2})};
  o.arguments[4].param = "fc0.weight";
  m.optimizer = o;
  m.scheduleFile = "schedule.csv";
  m.memoryFile = "memory.json";
  m.peakMemoryBytes = {704, 704};
  m.abi = m.abiSignature();
  return m;
}

/// The forward-only skeleton's manifest.
Manifest forward() {
  Manifest m;
  m.model = "mlp";
  m.schedule = "forward";
  m.placement = "linear";
  m.ranks = 2;
  m.stages = 2;
  m.stageRanks = {0, 1};
  m.libraryBytes = 1;
  m.librarySha256 = std::string(64, '0');
  m.entryPoints = {"dualpipe_rank0_packed", "dualpipe_rank1_packed"};
  m.referenceEntryPoint = "dualpipe_reference_packed";
  m.arguments = {arg("input", "x", "f32", {4, 16}),
                 arg("param", "fc0.weight", "f32", {16, 32})};
  m.arguments[0].ranks = std::vector<int64_t>{0};
  m.arguments[1].ranks = std::vector<int64_t>{0, 1};
  Argument out;
  out.role = "output";
  out.name = "output0";
  out.dtype = "f32";
  out.shape = {4, 8};
  m.outputs = {out};
  m.abi = m.abiSignature();
  return m;
}

std::string parseError(const std::string &text) {
  Manifest m;
  std::string error;
  EXPECT_FALSE(parseManifest(text, m, error, "out/manifest.json"));
  return error;
}

TEST(Manifest, TrainingRoundTrip) {
  Manifest m = training();
  std::string text = writeManifest(m);
  Manifest back;
  std::string error;
  ASSERT_TRUE(parseManifest(text, back, error)) << error;
  EXPECT_EQ(writeManifest(back), text);
  EXPECT_EQ(back.ranks, 2);
  EXPECT_EQ(back.arguments.size(), 8u);
  ASSERT_TRUE(back.arguments[3].intRange);
  EXPECT_EQ(back.arguments[3].intRange->second, 64);
  ASSERT_TRUE(back.optimizer);
  EXPECT_EQ(back.optimizer->hyperparameters.at("lr"), 0.001);
  EXPECT_EQ(*back.optimizer->arguments[4].param, "fc0.weight");
  EXPECT_EQ(back.paramRanks.at("fc0.weight"), (std::vector<int64_t>{1, 0}));
  EXPECT_EQ(back.abi, m.abiSignature());
  EXPECT_TRUE(validateManifest(back).empty());
  // Keys sorted, two-space indent, as dualpipe-compile wrote with llvm::json.
  EXPECT_EQ(text.rfind("{\n  \"abi\": ", 0), 0u) << text.substr(0, 40);
  EXPECT_NE(text.find("\"format\": \"dualpipe-step\""), std::string::npos);
  EXPECT_NE(text.find("\"version\": 2"), std::string::npos);
}

TEST(Manifest, ForwardRoundTrip) {
  Manifest m = forward();
  std::string text = writeManifest(m);
  Manifest back;
  std::string error;
  ASSERT_TRUE(parseManifest(text, back, error)) << error;
  EXPECT_EQ(writeManifest(back), text);
  EXPECT_FALSE(back.training());
  ASSERT_EQ(back.outputs.size(), 1u);
  EXPECT_EQ(back.outputs[0].name, "output0");
  // Outputs are written as dtype and shape only, as before.
  EXPECT_EQ(text.find("\"output0\""), std::string::npos);
  EXPECT_EQ(text.find("\"mode\""), std::string::npos);
}

TEST(Manifest, AbiSignatureText) {
  Manifest m = forward();
  EXPECT_EQ(m.abiSignature(),
            "dualpipe_rank0_packed(input x f32[4x16], param fc0.weight "
            "f32[16x32], output output0 f32[4x8]);"
            "dualpipe_rank1_packed(input x f32[4x16], param fc0.weight "
            "f32[16x32], output output0 f32[4x8]);"
            "dualpipe_reference_packed(input x f32[4x16], param fc0.weight "
            "f32[16x32], output output0 f32[4x8])");
  Manifest t = training();
  std::string abi = t.abiSignature();
  EXPECT_NE(abi.find(";dualpipe_optimizer_packed(param fc0.weight f32[8x8], "
                     "param fc0.bias f32[8], grad fc0.weight f32[8x8], grad "
                     "fc0.bias f32[8], state fc0.weight.exp_avg f32[8x8], "
                     "scalars step f32[2])"),
            std::string::npos)
      << abi;
  EXPECT_EQ(tensorType("f32", {}), "f32[]");
}

TEST(Manifest, VersionOneIsRefusedWithRecompile) {
  std::string error = parseError(
      R"({"format": "dualpipe-step", "version": 1, "ranks": 2})");
  EXPECT_NE(error.find("out/manifest.json has manifest version 1, written by "
                       "an older dualpipe-compile"),
            std::string::npos)
      << error;
  EXPECT_NE(error.find("recompile with this dualpipe-compile"),
            std::string::npos);
  error = parseError(R"({"format": "dualpipe-step", "version": 3})");
  EXPECT_NE(error.find("version 3; this dualpipe-run reads version 2"),
            std::string::npos)
      << error;
}

TEST(Manifest, NotAManifest) {
  EXPECT_NE(parseError("{\"hello\": 1").find(
                "out/manifest.json is not a dualpipe-step manifest (not "
                "valid JSON"),
            std::string::npos);
  EXPECT_NE(parseError("[1, 2]").find("is not a dualpipe-step manifest"),
            std::string::npos);
  EXPECT_NE(parseError(R"({"format": "other", "version": 2})")
                .find("is not a dualpipe-step manifest"),
            std::string::npos);
  std::string deep(100, '[');
  EXPECT_NE(parseError(deep + std::string(100, ']'))
                .find("nested deeper than 32"),
            std::string::npos);
}

/// The JSON of training() after `edit` on the parsed tree's text.
std::string edited(const std::string &from, const std::string &to) {
  std::string text = writeManifest(training());
  size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  return text.replace(at, from.size(), to);
}

TEST(Manifest, JsonLevelRefusals) {
  struct Case {
    std::string from, to, expected;
  } cases[] = {
      {"\"ranks\": 2,", "\"ranks\": 2, \"ranks\": 3,",
       "names the field 'ranks' twice in one object"},
      {"\"ranks\": 2,", "\"ranks\": 2, \"rank\": 3,",
       "the manifest: unknown field 'rank'"},
      {"\"ranks\": 2,", "\"ranks\": \"2\",", "field 'ranks': is not an integer"},
      {"\"ranks\": 2,", "\"ranks\": 2.0,", "field 'ranks': is not an integer"},
      {"\"ranks\": 2,", "\"ranks\": 18446744073709551615,",
       "field 'ranks': is too large"},
      {"\"library_sha256\"", "\"library_sha\"", "unknown field 'library_sha'"},
      {"\"stage_ranks\": [", "\"stage_ranks\": [\"a\", ",
       "field 'stage_ranks[0]': is not an integer"},
      {"\"mode\": \"train\",", "",
       "the manifest: unknown field 'optimizer'"},
      {"\"entry_points\": [", "\"entry_points\": [7, ",
       "field 'entry_points[0]': is not a string"},
  };
  for (const Case &c : cases) {
    std::string error = parseError(edited(c.from, c.to));
    EXPECT_NE(error.find(c.expected), std::string::npos)
        << c.to << "\n  got: " << error;
    EXPECT_NE(error.find("recompile the step with dualpipe-compile"),
              std::string::npos)
        << error;
  }
}

TEST(Manifest, EveryFieldIsChecked) {
  struct Case {
    const char *what;
    std::function<void(Manifest &)> edit;
    std::string expected;
    /// False for edits JSON cannot carry (invalid UTF-8, infinity, outputs
    /// of a training step): then only validateManifest sees them.
    bool viaJson = true;
  };
  auto argNamed = [](Manifest &m, const std::string &role,
                     const std::string &name) -> Argument & {
    for (Argument &a : m.arguments)
      if (a.role == role && a.name == name)
        return a;
    ADD_FAILURE() << role << " " << name;
    return m.arguments[0];
  };
  std::vector<Case> cases = {
      {"ranks 0", [](Manifest &m) { m.ranks = 0; }, "field 'ranks': 0 is outside 1 to 4096"},
      {"ranks 1000000", [](Manifest &m) { m.ranks = 1000000; },
       "field 'ranks': 1000000 is outside 1 to 4096 (a local world has at most 4096 rank threads)"},
      {"mode", [](Manifest &m) { m.mode = "eval"; }, "field 'mode': \"eval\" is not 'train'"},
      {"target", [](Manifest &m) { m.target = "tpu"; }, "field 'target': 'tpu' is not one of cpu, cuda"},
      {"placement", [](Manifest &m) { m.placement = "zigzag"; }, "field 'placement'"},
      {"schedule", [](Manifest &m) { m.schedule = ""; }, "field 'schedule'"},
      {"stages", [](Manifest &m) { m.stages = 3; }, "field 'stage_ranks': has 4 entries for 3 stages (placement dualpipe needs 6)"},
      {"stage rank", [](Manifest &m) { m.stageRanks[2] = 2; }, "stage 2 is on rank 2, outside 0 to 1"},
      {"microbatches", [](Manifest &m) { m.microbatches = 0; }, "field 'microbatches': 0 is outside"},
      {"library path", [](Manifest &m) { m.library = "../evil.so"; }, "field 'library': '../evil.so' is not a file name in the step's folder"},
      {"library bytes", [](Manifest &m) { m.libraryBytes = 0; }, "field 'library_bytes'"},
      {"sha", [](Manifest &m) { m.librarySha256 = "abc"; }, "field 'library_sha256': is not a SHA-256"},
      {"sha upper", [](Manifest &m) { m.librarySha256 = std::string(64, 'A'); }, "field 'library_sha256'"},
      {"entry count", [](Manifest &m) { m.entryPoints.pop_back(); }, "field 'entry_points': lists 1 entry points for 2 ranks"},
      {"entry twice", [](Manifest &m) { m.entryPoints[1] = m.entryPoints[0]; }, "is named twice"},
      {"entry name", [](Manifest &m) { m.entryPoints[1] = "rm -rf"; }, "is not a C identifier"},
      {"reference clash", [](Manifest &m) { m.referenceEntryPoint = m.entryPoints[0]; }, "field 'reference_entry_point': 'dualpipe_rank0_packed' is named twice"},
      {"role", [](Manifest &m) { m.arguments[0].role = "weight"; }, "arguments[0]: role 'weight' is not one of"},
      {"dtype", [](Manifest &m) { m.arguments[0].dtype = "f8"; }, "arguments[0] (input 'x'): dtype 'f8' is not one of"},
      {"shape zero", [](Manifest &m) { m.arguments[0].shape = {0, 8}; }, "arguments[0] (input 'x'): shape [0, 8] has a dimension outside 1 to 2^40"},
      {"shape negative", [](Manifest &m) { m.arguments[0].shape = {-8, 8}; }, "has a dimension outside"},
      {"shape huge", [](Manifest &m) { m.arguments[0].shape = {1 << 30, 1 << 30, 1 << 30}; }, "has more than 2^40 elements"},
      {"empty name", [](Manifest &m) { m.arguments[0].name = ""; }, "the name '' is empty"},
      {"control name", [](Manifest &m) { m.arguments[0].name = "a\nb"; }, "holds control characters"},
      {"utf8 name", [](Manifest &m) { m.arguments[0].name = "\xff"; }, "not UTF-8", false},
      {"metadata name", [](Manifest &m) { m.arguments[0].name = "__metadata__"; }, "the name is reserved by safetensors"},
      {"duplicate argument", [](Manifest &m) { m.arguments.insert(m.arguments.begin() + 1, m.arguments[1]); }, "the param 'fc0.weight' appears twice"},
      {"int_range float", [](Manifest &m) { m.arguments[0].intRange = std::make_pair(int64_t(0), int64_t(4)); }, "is f32 but has an int_range"},
      {"int_range empty", [&](Manifest &m) { argNamed(m, "input", "tokens").intRange = std::make_pair(int64_t(5), int64_t(5)); }, "int_range [5, 5] must be [LO, HI] with LO < HI"},
      {"int_range i32", [&](Manifest &m) { Argument &a = argNamed(m, "input", "tokens"); a.dtype = "i32"; a.intRange = std::make_pair(int64_t(0), int64_t(1) << 40); }, "does not fit its i32 values"},
      {"ranks on training", [](Manifest &m) { m.arguments[0].ranks = std::vector<int64_t>{0}; }, "'ranks' is for forward steps only"},
      {"param field", [](Manifest &m) { m.arguments[0].param = "fc0.weight"; }, "only optimizer state has a 'param' field"},
      {"losses shape", [&](Manifest &m) { argNamed(m, "losses", "losses").shape = {8}; }, "the losses 'losses': has shape [8]; the losses are one per micro-batch: [4]"},
      {"no losses", [&](Manifest &m) { argNamed(m, "losses", "losses").role = "label"; }, "has 0 losses arguments"},
      {"grad shape", [&](Manifest &m) { argNamed(m, "grad", "fc0.bias").shape = {9}; }, "the grad 'fc0.bias': is f32[9], but its parameter is f32[8]"},
      {"grad orphan", [&](Manifest &m) { argNamed(m, "grad", "fc0.bias").name = "fc9.bias"; }, "the grad 'fc9.bias': is the gradient of no parameter"},
      {"param without grad", [&](Manifest &m) { m.arguments.push_back(arg("param", "extra", "f32", {2})); m.paramRanks["extra"] = {0}; }, "the param 'extra': has no gradient argument"},
      {"param_ranks unknown", [](Manifest &m) { m.paramRanks["ghost"] = {0}; }, "field 'param_ranks' entry 'ghost': names no parameter"},
      {"param_ranks range", [](Manifest &m) { m.paramRanks["fc0.bias"] = {2}; }, "must be distinct ranks of 0 to 1"},
      {"param_ranks empty", [](Manifest &m) { m.paramRanks["fc0.bias"] = {}; }, "lists no rank"},
      {"param_ranks missing", [](Manifest &m) { m.paramRanks.erase("fc0.bias"); }, "says nothing of the parameter 'fc0.bias'"},
      {"optimizer kind", [](Manifest &m) { m.optimizer->kind = ""; }, "field 'optimizer.kind'"},
      {"optimizer hyper", [](Manifest &m) { m.optimizer->hyperparameters["lr"] = 1.0 / 0.0; }, "field 'optimizer.hyperparameters' entry 'lr': must be a name with a finite number", false},
      {"optimizer entry", [](Manifest &m) { m.optimizer->entryPoint = "dualpipe_rank1_packed"; }, "field 'optimizer.entry_point': 'dualpipe_rank1_packed' is named twice"},
      {"optimizer param twice", [](Manifest &m) { m.optimizer->arguments.insert(m.optimizer->arguments.begin(), m.optimizer->arguments[0]); }, "optimizer.arguments[1]: the param 'fc0.weight' appears twice"},
      {"optimizer param missing", [](Manifest &m) { m.optimizer->arguments.erase(m.optimizer->arguments.begin() + 1); }, "must take the parameter 'fc0.bias' and its gradient once each (it takes them 0 and 1 times)"},
      {"optimizer unknown param", [](Manifest &m) { m.optimizer->arguments[0].name = "ghost"; }, "(param 'ghost'): is not a parameter of the step"},
      {"optimizer shape", [](Manifest &m) { m.optimizer->arguments[2].shape = {8, 9}; }, "is f32[8x9], but the step's parameter is f32[8x8]"},
      {"optimizer state name", [](Manifest &m) { m.optimizer->arguments[4].name = "fc0.bias"; }, "has a parameter's name (checkpoints hold both)"},
      {"optimizer state owner", [](Manifest &m) { m.optimizer->arguments[4].param = "ghost"; }, "belongs to 'ghost', which is not a parameter"},
      {"optimizer scalars", [](Manifest &m) { m.optimizer->arguments[5].shape = {3}; }, "must be f32[2] ([lr, t]), got f32[3]"},
      {"optimizer two scalars", [](Manifest &m) { Argument s = m.optimizer->arguments[5]; s.name = "step2"; m.optimizer->arguments.push_back(s); }, "must take one scalars argument ([lr, t]), it takes 2"},
      {"schedule file", [](Manifest &m) { m.scheduleFile = "/etc/passwd"; }, "field 'schedule_file'"},
      {"peak count", [](Manifest &m) { m.peakMemoryBytes = {1}; }, "field 'peak_memory_bytes': has 1 entries for 2 ranks"},
      {"peak negative", [](Manifest &m) { m.peakMemoryBytes = {1, -1}; }, "holds a negative size"},
      {"outputs on training", [](Manifest &m) { m.outputs.push_back(m.arguments[0]); m.outputs.back().role = "output"; }, "field 'outputs': is for forward steps only", false},
  };
  for (const Case &c : cases) {
    Manifest m = training();
    c.edit(m);
    m.abi = m.abiSignature(); // the problem, not the abi, must be found
    std::string error =
        c.viaJson ? parseError(writeManifest(m)) : validateManifest(m);
    EXPECT_NE(error.find(c.expected), std::string::npos)
        << c.what << "\n  got: " << error;
    EXPECT_NE(validateManifest(m), "") << c.what;
  }
}

TEST(Manifest, ForwardChecks) {
  Manifest m = forward();
  m.arguments[0].ranks = std::vector<int64_t>{0, 0};
  m.abi = m.abiSignature();
  EXPECT_NE(parseError(writeManifest(m)).find("ranks [0, 0] must be distinct"),
            std::string::npos);
  m = forward();
  m.arguments[1].role = "label";
  m.abi = m.abiSignature();
  EXPECT_NE(parseError(writeManifest(m)).find("role 'label' is not one of input, param"),
            std::string::npos);
  m = forward();
  m.arguments[1].ranks.reset();
  m.abi = m.abiSignature();
  EXPECT_NE(parseError(writeManifest(m)).find("the field 'ranks' is missing"),
            std::string::npos);
  m = forward();
  m.referenceEntryPoint = "";
  m.abi = m.abiSignature();
  EXPECT_NE(parseError(writeManifest(m)).find("reference_entry_point"),
            std::string::npos);
}

TEST(Manifest, AbiMustDescribeTheManifest) {
  Manifest m = training();
  std::swap(m.arguments[1].name, m.arguments[2].name); // abi left as it was
  std::swap(m.arguments[1].shape, m.arguments[2].shape);
  std::string error = parseError(writeManifest(m));
  EXPECT_NE(error.find("field 'abi': does not describe the manifest's own "
                       "entry points and arguments"),
            std::string::npos)
      << error;
  // The compiler validates before it has the abi.
  m = training();
  m.abi.clear();
  EXPECT_EQ(validateManifest(m), "");
}

TEST(Manifest, MessagesStayOneLine) {
  Manifest m = training();
  m.arguments[0].dtype = "f\n32";
  m.abi = m.abiSignature();
  std::string error = parseError(writeManifest(m));
  EXPECT_EQ(error.find('\n'), std::string::npos) << error;
}

} // namespace
