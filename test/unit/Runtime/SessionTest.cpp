//===- SessionTest.cpp - Opening, running and training a compiled step ---===//
//
// Against ToyStep.c (a hand-written 2-rank pipeline in the packed ABI) and
// a manifest written here: opening refuses a wrong hash, size or ABI and a
// missing entry point; a step's losses and gradients equal the closed form;
// replicas combine; checkpoints round-trip and bad ones are refused; limits
// (memory, threads, steps) and a timeout that names its action.
//
//===----------------------------------------------------------------------===//

#include "dualpipe/Runtime/Manifest.h"
#include "dualpipe/Runtime/SafeTensors.h"
#include "dualpipe/Runtime/Session.h"

#include "RuntimeTestUtil.h"

#include <sys/stat.h>

#include <cmath>
#include <cstring>
#include <cstdlib>
#include <fstream>
#include <sstream>

using namespace dualpipe;
using session::Error;

namespace {

constexpr int M = 4, D = 3;

std::string readAll(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void writeAll(const std::string &path, const std::string &bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

manifest::Argument arg(const char *role, const char *name,
                       std::vector<int64_t> shape) {
  manifest::Argument a;
  a.role = role;
  a.name = name;
  a.dtype = "f32";
  a.shape = std::move(shape);
  return a;
}

/// The manifest of ToyStep.c, sealed for `library` (a file in `dir`).
manifest::Manifest toyManifest(const std::string &dir, bool withOptimizer) {
  manifest::Manifest m;
  m.mode = "train";
  m.schedule = "1f1b";
  m.placement = "linear";
  m.ranks = 2;
  m.stages = 2;
  m.stageRanks = {0, 1};
  m.microbatches = M;
  m.entryPoints = {"toy_rank0_packed", "toy_rank1_packed"};
  m.referenceEntryPoint = "toy_reference_packed";
  m.arguments = {arg("param", "w0", {D}),       arg("param", "w1", {D}),
                 arg("input", "x", {M, D}),     arg("label", "t", {M}),
                 arg("losses", "losses", {M}), arg("grad", "w0", {D}),
                 arg("grad", "w1", {D})};
  m.paramRanks = {{"w0", {0}}, {"w1", {1}}};
  if (withOptimizer) {
    manifest::Optimizer o;
    o.kind = "sgd";
    o.entryPoint = "toy_sgd_packed";
    o.hyperparameters = {{"lr", 0.25}};
    o.arguments = {arg("param", "w0", {D}), arg("param", "w1", {D}),
                   arg("grad", "w0", {D}), arg("grad", "w1", {D}),
                   arg("scalars", "step", {2})};
    m.optimizer = o;
  }
  std::string bytes = readAll(dir + "/" + m.library);
  m.libraryBytes = static_cast<int64_t>(bytes.size());
  m.librarySha256 = session::sha256Hex(bytes.data(), bytes.size());
  m.abi = m.abiSignature();
  return m;
}

/// The parameters and data the closed form is computed from.
struct Values {
  std::vector<float> w0 = {0.5f, -1.0f, 2.0f}, w1 = {1.5f, 0.25f, -0.75f};
  std::vector<float> x, t;
  explicit Values(int replicas = 1) {
    for (int i = 0; i < replicas * M * D; ++i)
      x.push_back(0.1f * float(i % 7) - 0.3f);
    for (int m = 0; m < replicas * M; ++m)
      t.push_back(0.2f * float(m) - 0.5f);
  }
};

/// Losses of replica slice `r` and the mean gradients over `replicas`.
struct ClosedForm {
  std::vector<double> losses, g0 = std::vector<double>(D),
                              g1 = std::vector<double>(D);
  double mean = 0;
};

ClosedForm closedForm(const Values &v, int replicas) {
  ClosedForm c;
  for (int m = 0; m < replicas * M; ++m) {
    double s = 0, h[D];
    for (int i = 0; i < D; ++i) {
      h[i] = double(v.w0[i]) * v.x[m * D + i];
      s += double(v.w1[i]) * h[i];
    }
    double e = s - v.t[m];
    c.losses.push_back(0.5 * e * e);
    c.mean += 0.5 * e * e / (replicas * M);
    for (int i = 0; i < D; ++i) {
      c.g1[i] += e * h[i] / (M * replicas);
      c.g0[i] += e * v.w1[i] * v.x[m * D + i] / (M * replicas);
    }
  }
  return c;
}

class SessionTest : public ::testing::Test {
protected:
  std::string dir;
  int steps = 0;

  /// DIR with `library` as step.so and the toy's manifest.
  void SetUp() override { dir = test::makeTempDir(); }

  std::string stepDir(const char *library, bool withOptimizer = false,
                      const std::function<void(manifest::Manifest &)> &edit =
                          nullptr) {
    // A folder per call: a loaded library is never overwritten.
    std::string step = dir + "/step" + std::to_string(steps++);
    mkdir(step.c_str(), 0777);
    writeAll(step + "/step.so", readAll(library));
    manifest::Manifest m = toyManifest(step, withOptimizer);
    if (edit) {
      edit(m);
      m.abi = m.abiSignature();
    }
    writeAll(step + "/manifest.json", manifest::writeManifest(m));
    return step;
  }

  std::string writeValues(const Values &v, int replicas) {
    safetensors::TensorFile params, data;
    params.tensors["w0"] = safetensors::Tensor::f32({D}, v.w0.data());
    params.tensors["w1"] = safetensors::Tensor::f32({D}, v.w1.data());
    data.tensors["x"] =
        safetensors::Tensor::f32({replicas * M, D}, v.x.data());
    data.tensors["t"] = safetensors::Tensor::f32({replicas * M}, v.t.data());
    EXPECT_EQ(safetensors::writeSafeTensors(dir + "/p.safetensors", params),
              "");
    EXPECT_EQ(safetensors::writeSafeTensors(dir + "/d.safetensors", data), "");
    return dir;
  }

  session::Options options(int replicas = 1) {
    session::Options o;
    o.dp = replicas;
    o.timeout = 10;
    o.params = dir + "/p.safetensors";
    o.data = dir + "/d.safetensors";
    o.lr = 0.25;
    return o;
  }

  std::unique_ptr<session::StepLibrary> open(const std::string &step) {
    return session::StepLibrary::load(step, session::readManifest(step));
  }

  /// The error opening `step` gives ("" if it opens).
  std::string openError(const std::string &step) {
    try {
      open(step);
    } catch (const Error &e) {
      return e.what();
    }
    return "";
  }
};

#define EXPECT_CONTAINS(text, part)                                           \
  EXPECT_NE(std::string(text).find(part), std::string::npos)                  \
      << "  in: " << (text)

TEST(Sha256, KnownVectors) {
  EXPECT_EQ(session::sha256Hex("", 0),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(session::sha256Hex("abc", 3),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  std::string million(1000000, 'a');
  EXPECT_EQ(session::sha256Hex(million.data(), million.size()),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  std::string path = test::makeTempDir() + "/abc";
  writeAll(path, "abc");
  EXPECT_EQ(session::sha256File(path),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST_F(SessionTest, OpensTheToyStep) {
  std::string step = stepDir(TOY_STEP);
  EXPECT_EQ(openError(step), "");
}

TEST_F(SessionTest, RefusesAWrongHash) {
  std::string step = stepDir(TOY_STEP, false, [](manifest::Manifest &m) {
    m.librarySha256 = std::string(64, '0');
  });
  std::string error = openError(step);
  EXPECT_CONTAINS(error, "step.so has SHA-256 ");
  EXPECT_CONTAINS(error, "(library_sha256): it is not the library this "
                         "manifest was written with; recompile");
}

TEST_F(SessionTest, RefusesATruncatedLibraryBeforeLoadingIt) {
  std::string step = stepDir(TOY_STEP);
  std::string bytes = readAll(step + "/step.so");
  writeAll(step + "/step.so", bytes.substr(0, bytes.size() / 2));
  std::string error = openError(step);
  EXPECT_CONTAINS(error, "bytes, but the manifest says " +
                             std::to_string(bytes.size()) +
                             " (library_bytes): it was truncated or replaced");
}

TEST_F(SessionTest, RefusesAForeignLibrary) {
  // Another library of the same size (the reference's sha differs).
  std::string step = stepDir(TOY_STEP);
  std::string bytes = readAll(step + "/step.so");
  bytes[bytes.size() / 2] ^= 0x5a;
  writeAll(step + "/step.so", bytes);
  EXPECT_CONTAINS(openError(step), "(library_sha256)");
}

TEST_F(SessionTest, RefusesAWrongAbi) {
  // The manifest describes x as 4x4 (and its abi says so): the library's
  // text says 4x3.
  std::string step = stepDir(TOY_STEP, false, [](manifest::Manifest &m) {
    m.arguments[2].shape = {M, 4};
  });
  std::string error = openError(step);
  EXPECT_CONTAINS(error, "its entry points' signatures do not match the "
                         "manifest's arguments");
  EXPECT_CONTAINS(error, "input x f32[4x3]");
  EXPECT_CONTAINS(error, "input x f32[4x4]");
  EXPECT_CONTAINS(error, "recompile");
}

TEST_F(SessionTest, RefusesSwappedParameterNames) {
  std::string step = stepDir(TOY_STEP, false, [](manifest::Manifest &m) {
    std::swap(m.arguments[0].name, m.arguments[1].name);
    std::swap(m.arguments[5].name, m.arguments[6].name);
  });
  EXPECT_CONTAINS(openError(step), "signatures do not match");
}

TEST_F(SessionTest, RefusesAMissingEntryPoint) {
  std::string step = stepDir(TOY_STEP, false, [](manifest::Manifest &m) {
    m.entryPoints[1] = "toy_rank9_packed";
  });
  EXPECT_CONTAINS(openError(step), "has no entry point 'toy_rank9_packed'");
}

TEST_F(SessionTest, RefusesALibraryWithoutAbi) {
  std::string step = stepDir(TOY_STEP_NO_ABI);
  EXPECT_CONTAINS(openError(step), "exports no dualpipe_step_abi");
}

TEST_F(SessionTest, AStepEqualsTheClosedForm) {
  Values v;
  writeValues(v, 1);
  session::TrainingSession s(open(stepDir(TOY_STEP)), options());
  ClosedForm want = closedForm(v, 1);
  session::StepResult r = s.run(0, false);
  EXPECT_NEAR(r.loss, want.mean, 1e-6 * std::fabs(want.mean));
  std::string grads = dir + "/g.safetensors";
  s.dumpGradients(grads);
  safetensors::TensorFile g;
  ASSERT_EQ(safetensors::readSafeTensors(grads, g), "");
  for (int i = 0; i < D; ++i) {
    float g0, g1;
    std::memcpy(&g0, g.tensors["w0"].bytes.data() + 4 * i, 4);
    std::memcpy(&g1, g.tensors["w1"].bytes.data() + 4 * i, 4);
    EXPECT_NEAR(g0, want.g0[i], 1e-6) << i;
    EXPECT_NEAR(g1, want.g1[i], 1e-6) << i;
  }
  session::CheckResult c = s.check();
  EXPECT_TRUE(c.pass);
  EXPECT_LE(c.lossError, 1e-6);
  // SGD: the next step starts from w - lr * g.
  s.update(0);
  Values next = v;
  for (int i = 0; i < D; ++i) {
    next.w0[i] -= 0.25f * float(want.g0[i]);
    next.w1[i] -= 0.25f * float(want.g1[i]);
  }
  EXPECT_NEAR(s.run(1, false).loss, closedForm(next, 1).mean, 1e-5);
  s.close();
}

TEST_F(SessionTest, ReplicasCombine) {
  Values v(2);
  writeValues(v, 2);
  session::TrainingSession s(open(stepDir(TOY_STEP)), options(2));
  ClosedForm want = closedForm(v, 2);
  EXPECT_NEAR(s.run(0, false).loss, want.mean, 1e-6 * std::fabs(want.mean));
  std::string grads = dir + "/g.safetensors";
  s.dumpGradients(grads);
  safetensors::TensorFile g;
  ASSERT_EQ(safetensors::readSafeTensors(grads, g), "");
  for (int i = 0; i < D; ++i) {
    float g0;
    std::memcpy(&g0, g.tensors["w0"].bytes.data() + 4 * i, 4);
    EXPECT_NEAR(g0, want.g0[i], 1e-6) << i;
  }
  EXPECT_TRUE(s.check().pass);
}

TEST_F(SessionTest, CheckpointsRoundTrip) {
  Values v;
  writeValues(v, 1);
  std::string step = stepDir(TOY_STEP_OPT, /*withOptimizer=*/true);
  std::vector<double> straight;
  {
    session::TrainingSession s(open(step), options());
    EXPECT_TRUE(s.compiledOptimizer());
    EXPECT_EQ(s.optimizerKind(), "sgd");
    for (int k = 0; k < 4; ++k) {
      straight.push_back(s.run(k, false).loss);
      s.update(k);
      if (k == 1)
        s.saveCheckpoint(dir + "/ck.safetensors", 2);
    }
  }
  session::Options o = options();
  o.resume = dir + "/ck.safetensors";
  session::TrainingSession s(open(step), o);
  EXPECT_EQ(s.firstStep(), 2);
  for (int k = 2; k < 4; ++k) {
    EXPECT_EQ(s.run(k, false).loss, straight[k]) << k;
    s.update(k);
  }
}

TEST_F(SessionTest, RefusesBadCheckpoints) {
  Values v;
  writeValues(v, 1);
  std::string step = stepDir(TOY_STEP);
  safetensors::TensorFile ck;
  ASSERT_EQ(safetensors::readSafeTensors(dir + "/p.safetensors", ck), "");
  ck.metadata["optimizer"] = "sgd";
  auto resumeError = [&](safetensors::TensorFile file) {
    EXPECT_EQ(safetensors::writeSafeTensors(dir + "/bad.safetensors", file),
              "");
    session::Options o = options();
    o.resume = dir + "/bad.safetensors";
    try {
      session::TrainingSession s(open(step), o);
    } catch (const Error &e) {
      return std::string(e.what());
    }
    return std::string();
  };
  for (const char *text : {"abc", "-5", "12345678901234567890", "", "1e3"}) {
    safetensors::TensorFile bad = ck;
    bad.metadata["step"] = text;
    EXPECT_CONTAINS(resumeError(bad), "its metadata 'step' is '" +
                                          std::string(text) +
                                          "', not a step number");
  }
  safetensors::TensorFile extra = ck;
  extra.tensors["fc9.weight"] = extra.tensors["w0"];
  EXPECT_CONTAINS(resumeError(extra), "holds the tensor 'fc9.weight', which "
                                      "is neither a parameter nor optimizer "
                                      "state of this step");
  safetensors::TensorFile missing = ck;
  missing.tensors.erase("w1");
  EXPECT_CONTAINS(resumeError(missing), "has no tensor named 'w1'");
  safetensors::TensorFile adamw = ck;
  adamw.metadata["optimizer"] = "adamw";
  EXPECT_CONTAINS(resumeError(adamw), "was written with optimizer 'adamw'");
  int64_t step1;
  EXPECT_TRUE(session::parseStep("4611686018427387904", step1)); // 2^62
  EXPECT_FALSE(session::parseStep("4611686018427387905", step1));
}

TEST_F(SessionTest, ATimeoutNamesRankPeerTagActionAndMicroBatch) {
  Values v;
  writeValues(v, 1);
  session::Options o = options();
  o.timeout = 0.3;
  session::TrainingSession s(open(stepDir(TOY_STEP)), o);
  setenv("TOY_HANG", "1", 1);
  std::string error;
  try {
    s.run(0, false);
  } catch (const Error &e) {
    error = e.what();
  }
  unsetenv("TOY_HANG");
  EXPECT_CONTAINS(error, "step 0 failed: rank 1: receive from rank 0 (tag 2) "
                         "during F of stage 1, micro-batch 2 timed out after "
                         "0.3 s");
}

TEST_F(SessionTest, NonFiniteLossStopsTheRun) {
  Values v;
  v.w0[1] = std::nanf("");
  writeValues(v, 1);
  session::TrainingSession s(open(stepDir(TOY_STEP)), options());
  try {
    s.run(3, false);
    ADD_FAILURE() << "a NaN loss was accepted";
  } catch (const Error &e) {
    EXPECT_CONTAINS(e.what(), "step 3 failed: the loss is nan");
    EXPECT_CONTAINS(e.what(), "nothing was updated or saved");
  }
}

TEST_F(SessionTest, LimitsAreRefusedBeforeAllocating) {
  Values v;
  writeValues(v, 1);
  std::string step = stepDir(TOY_STEP_OPT, true);
  auto error = [&](session::Options o) -> std::pair<std::string, int> {
    try {
      session::TrainingSession s(open(step), o);
    } catch (const Error &e) {
      return {e.what(), e.exitCode()};
    }
    return {"", 0};
  };
  session::Options o = options();
  o.dp = 1000000;
  auto [threads, code] = error(o);
  EXPECT_CONTAINS(threads, "--dp=1000000 asks for 2 x 1000000 rank threads");
  EXPECT_EQ(code, 2);
  o = options();
  o.steps = (int64_t(1) << 24) + 1;
  EXPECT_CONTAINS(error(o).first, "exact up to 2^24");
  setenv("DUALPIPE_MEMORY_LIMIT", "1000", 1);
  std::string memory = error(options()).first;
  unsetenv("DUALPIPE_MEMORY_LIMIT");
  EXPECT_CONTAINS(memory, "this run needs about ");
  EXPECT_CONTAINS(memory, "but only 1000 bytes is available "
                          "(DUALPIPE_MEMORY_LIMIT): lower --dp");
  std::string source;
  EXPECT_GT(session::availableMemory(source), 0);
}

TEST_F(SessionTest, CompiledSgdEqualsRunnerSgd) {
  Values v;
  writeValues(v, 1);
  std::vector<double> runner, compiled;
  {
    session::TrainingSession s(open(stepDir(TOY_STEP)), options());
    for (int k = 0; k < 3; ++k) {
      runner.push_back(s.run(k, false).loss);
      s.update(k);
    }
  }
  session::TrainingSession s(open(stepDir(TOY_STEP_OPT, true)), options());
  EXPECT_EQ(s.optimizerLr(), 0.25);
  for (int k = 0; k < 3; ++k) {
    compiled.push_back(s.run(k, false).loss);
    s.update(k);
  }
  EXPECT_EQ(compiled, runner);
}

} // namespace
