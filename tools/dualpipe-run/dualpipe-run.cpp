//===- dualpipe-run.cpp - run a compiled training step on N ranks --------===//
//
// Loads OUTDIR/manifest.json and OUTDIR/step.so (written by
// dualpipe-compile), gives every rank program its buffers, runs one program
// per rank on the chosen backend, then runs the single-device reference
// entry point and compares the two.
//
//===----------------------------------------------------------------------===//
#include "dualpipe/Runtime/Runtime.h"
#include "dualpipe/Runtime/SafeTensors.h"

#include <nlohmann/json.hpp>

#include <dlfcn.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

using json = nlohmann::json;
using PackedFn = void (*)(void **);
namespace st = dualpipe::safetensors;

struct Options {
  std::string outDir;
  std::string backend = "local";
  std::string params, data, trace, dumpOutputs;
  uint64_t seed = 0;
  int64_t microbatch = 0;
  double timeout = 60.0;
  int64_t steps = 1;
  double lr = 0.01;
  bool check = false;
  std::string dumpGrads, save, resume;
};

[[noreturn]] void die(const std::string &message, int code = 1) {
  std::cerr << "dualpipe-run: error: " << message << "\n";
  std::exit(code);
}

void usage() {
  std::cout
      << "usage: dualpipe-run OUTDIR [options]\n"
         "Runs the step compiled by dualpipe-compile into OUTDIR, one program "
         "per rank,\nthen the single-device reference, and compares them.\n\n"
         "  --backend=local        ranks as threads of this process (the "
         "default)\n"
         "  --params=FILE          parameters by their dualpipe.param names "
         "(.safetensors)\n"
         "  --data=FILE            inputs by their dualpipe.input names "
         "(.safetensors)\n"
         "  --microbatch=K         which micro-batch of --data the "
         "forward-only skeleton\n"
         "                         runs (default 0)\n"
         "  --seed=S               seed of the deterministic initialization "
         "(default 0)\n"
         "  --timeout=SECONDS      fail a receive that waits longer "
         "(default 60)\n"
         "  --steps=K              training steps to run (default 1)\n"
         "  --lr=X                 SGD learning rate (default 0.01)\n"
         "  --check                also run the step on one rank without a "
         "pipeline and\n"
         "                         compare losses and gradients (relative "
         "error <= 1e-5)\n"
         "  --dump-grads=FILE      write the last step's gradients "
         "(.safetensors)\n"
         "  --save=FILE            write a checkpoint after the last step\n"
         "  --resume=FILE          continue from a checkpoint\n"
         "  --trace=FILE.json      write the ranks' timeline (Chrome trace, "
         "Perfetto)\n"
         "  --dump-outputs=FILE    write the pipeline's outputs (.safetensors)\n"
         "  --help                 this text\n";
}

Options parseArgs(int argc, char **argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](const char *flag) -> const char * {
      size_t n = std::strlen(flag);
      if (a.compare(0, n, flag) == 0 && a.size() > n && a[n] == '=')
        return argv[i] + n + 1;
      return nullptr;
    };
    if (a == "--help" || a == "-h") {
      usage();
      std::exit(0);
    } else if (const char *v = value("--backend")) {
      o.backend = v;
    } else if (const char *v = value("--params")) {
      o.params = v;
    } else if (const char *v = value("--data")) {
      o.data = v;
    } else if (const char *v = value("--trace")) {
      o.trace = v;
    } else if (const char *v = value("--dump-outputs")) {
      o.dumpOutputs = v;
    } else if (const char *v = value("--seed")) {
      char *end = nullptr;
      o.seed = std::strtoull(v, &end, 10);
      if (!*v || *end)
        die("--seed needs a non-negative integer, got '" + std::string(v) +
                "'",
            2);
    } else if (a == "--check") {
      o.check = true;
    } else if (const char *v = value("--dump-grads")) {
      o.dumpGrads = v;
    } else if (const char *v = value("--save")) {
      o.save = v;
    } else if (const char *v = value("--resume")) {
      o.resume = v;
    } else if (const char *v = value("--steps")) {
      char *end = nullptr;
      o.steps = std::strtoll(v, &end, 10);
      if (!*v || *end || o.steps < 1)
        die("--steps needs a positive integer, got '" + std::string(v) + "'",
            2);
    } else if (const char *v = value("--lr")) {
      char *end = nullptr;
      o.lr = std::strtod(v, &end);
      if (!*v || *end || !(o.lr >= 0))
        die("--lr needs a non-negative number, got '" + std::string(v) + "'",
            2);
    } else if (const char *v = value("--microbatch")) {
      char *end = nullptr;
      o.microbatch = std::strtoll(v, &end, 10);
      if (!*v || *end || o.microbatch < 0)
        die("--microbatch needs a non-negative integer, got '" +
                std::string(v) + "'",
            2);
    } else if (const char *v = value("--timeout")) {
      char *end = nullptr;
      o.timeout = std::strtod(v, &end);
      if (!*v || *end || !(o.timeout > 0))
        die("--timeout needs a positive number of seconds, got '" +
                std::string(v) + "'",
            2);
    } else if (!a.empty() && a[0] == '-') {
      die("unknown option '" + a + "'; see --help", 2);
    } else if (o.outDir.empty()) {
      o.outDir = a;
    } else {
      die("unexpected argument '" + a + "'; give one OUTDIR", 2);
    }
  }
  if (o.outDir.empty())
    die("no OUTDIR: give the folder dualpipe-compile wrote", 2);
  if (o.backend != "local")
    die("backend '" + o.backend +
            "' is not built yet; use --backend=local (ranks as threads)",
        2);
  return o;
}

/// One tensor argument: its data and the memref descriptor generated code
/// reads ({allocated, aligned, offset, sizes[r], strides[r]}, all 8 bytes).
struct Buffer {
  std::string name, role;
  std::vector<int64_t> shape;
  std::vector<float> values;
  std::vector<int64_t> descriptor;

  int64_t count() const {
    int64_t n = 1;
    for (int64_t d : shape)
      n *= d;
    return n;
  }
  void *describe() {
    size_t rank = shape.size();
    descriptor.assign(3 + 2 * rank, 0);
    auto ptr = reinterpret_cast<int64_t>(values.data());
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
};

std::string shapeString(const std::vector<int64_t> &shape) {
  std::string s;
  for (size_t i = 0; i < shape.size(); ++i)
    s += (i ? "x" : "") + std::to_string(shape[i]);
  return s.empty() ? "scalar" : s;
}

/// splitmix64: a tiny, well-mixed generator; one stream per tensor name so
/// that values do not depend on the order of arguments.
uint64_t mix(uint64_t &state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

void initialize(Buffer &b, uint64_t seed) {
  uint64_t state = seed * 0x100000001b3ULL;
  for (char c : b.name)
    state = (state ^ static_cast<unsigned char>(c)) * 0x100000001b3ULL;
  // Parameters: uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)), like PyTorch's
  // Linear; inputs: uniform(-1, 1).
  double scale = 1.0;
  if (b.role == "param" && b.shape.size() >= 2)
    scale = 1.0 / std::sqrt(static_cast<double>(b.shape[0]));
  else if (b.role == "param")
    scale = 0.1;
  for (float &v : b.values) {
    double u = (mix(state) >> 11) * (1.0 / 9007199254740992.0);
    v = static_cast<float>((2.0 * u - 1.0) * scale);
  }
}

/// Fills `b` from a tensor of a safetensors file: the same shape, or (for
/// inputs) a leading dimension that is a multiple of the micro-batch's, of
/// which micro-batch `microbatch` is taken.
void loadFrom(Buffer &b, const st::TensorFile &file, const std::string &path,
              int64_t microbatch) {
  auto it = file.tensors.find(b.name);
  if (it == file.tensors.end())
    die(path + " has no tensor named '" + b.name + "' (the " + b.role +
        " of shape " + shapeString(b.shape) + ")");
  const st::Tensor &t = it->second;
  if (t.dtype != "F32")
    die(path + ": tensor '" + b.name + "' is " + t.dtype +
        "; the step takes F32");
  bool same = t.shape == b.shape;
  bool batched = b.role == "input" && !b.shape.empty() &&
                 t.shape.size() == b.shape.size() && b.shape[0] > 0 &&
                 t.shape[0] % b.shape[0] == 0 &&
                 std::equal(t.shape.begin() + 1, t.shape.end(),
                            b.shape.begin() + 1);
  if (!same && !batched)
    die(path + ": tensor '" + b.name + "' has shape " + shapeString(t.shape) +
        ", but the model takes " + shapeString(b.shape));
  int64_t available = same ? 1 : t.shape[0] / b.shape[0];
  if (b.role == "input" && microbatch >= available)
    die("--microbatch=" + std::to_string(microbatch) + ", but " + path +
        " holds " + std::to_string(available) + " micro-batch(es) of '" +
        b.name + "'");
  int64_t first = b.role == "input" ? microbatch * b.count() : 0;
  std::memcpy(b.values.data(), t.bytes.data() + first * sizeof(float),
              b.count() * sizeof(float));
}

Buffer makeBuffer(const json &spec, const std::string &defaultName) {
  Buffer b;
  b.name = spec.value("name", defaultName);
  b.role = spec.value("role", "output");
  if (spec.value("dtype", "") != "f32")
    die("argument '" + b.name + "' has dtype '" + spec.value("dtype", "?") +
        "'; this runner handles f32");
  for (const json &d : spec.at("shape"))
    b.shape.push_back(d.get<int64_t>());
  b.values.assign(b.count(), 0.0f);
  return b;
}

json readManifest(const std::string &dir) {
  std::string path = dir + "/manifest.json";
  std::ifstream in(path);
  if (!in)
    die("cannot read " + path + "; is " + dir +
        " a folder written by dualpipe-compile?");
  std::stringstream text;
  text << in.rdbuf();
  json m = json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  if (m.is_discarded() || !m.is_object() ||
      m.value("format", "") != "dualpipe-step")
    die(path + " is not a dualpipe-step manifest");
  for (const char *key : {"ranks", "entry_points", "reference_entry_point",
                          "arguments", "library"})
    if (!m.contains(key))
      die(path + " has no '" + key + "' field");
  return m;
}

PackedFn lookup(void *lib, const std::string &name, const std::string &path) {
  auto fn = reinterpret_cast<PackedFn>(dlsym(lib, name.c_str()));
  if (!fn)
    die(path + " has no entry point '" + name + "'");
  return fn;
}

std::string preview(const Buffer &b) {
  std::ostringstream os;
  os.precision(6);
  os << "[";
  int64_t n = std::min<int64_t>(b.count(), 4);
  for (int64_t i = 0; i < n; ++i)
    os << (i ? ", " : "") << b.values[i];
  os << (b.count() > n ? ", ...]" : "]");
  double sum = 0;
  for (float v : b.values)
    sum += v;
  os << "  sum " << sum;
  return os.str();
}

} // namespace

int runTraining(const Options &opt, const json &manifest);

int main(int argc, char **argv) {
  Options opt = parseArgs(argc, argv);
  json manifest = readManifest(opt.outDir);
  if (manifest.value("mode", "") == "train")
    return runTraining(opt, manifest);
  if (!manifest.contains("outputs"))
    die(opt.outDir + "/manifest.json has no 'outputs' field");
  int32_t ranks = manifest["ranks"].get<int32_t>();
  std::string libPath = opt.outDir + "/" + manifest["library"].get<std::string>();
  void *lib = dlopen(libPath.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!lib)
    die(std::string("cannot load ") + libPath + ": " + dlerror());

  std::vector<PackedFn> programs;
  for (const json &name : manifest["entry_points"])
    programs.push_back(lookup(lib, name.get<std::string>(), libPath));
  if (static_cast<int32_t>(programs.size()) != ranks)
    die("the manifest lists " + std::to_string(programs.size()) +
        " entry points for " + std::to_string(ranks) + " ranks");
  PackedFn reference = lookup(
      lib, manifest["reference_entry_point"].get<std::string>(), libPath);

  // Arguments: parameters and inputs, shared read-only by every rank.
  std::vector<Buffer> args;
  for (const json &spec : manifest["arguments"])
    args.push_back(makeBuffer(spec, "arg" + std::to_string(args.size())));
  st::TensorFile params, data;
  if (!opt.params.empty())
    if (std::string err = st::readSafeTensors(opt.params, params); !err.empty())
      die(err);
  if (!opt.data.empty())
    if (std::string err = st::readSafeTensors(opt.data, data); !err.empty())
      die(err);
  for (Buffer &b : args) {
    if (b.role == "param" && !opt.params.empty())
      loadFrom(b, params, opt.params, 0);
    else if (b.role == "input" && !opt.data.empty())
      loadFrom(b, data, opt.data, opt.microbatch);
    else
      initialize(b, opt.seed);
  }
  std::vector<Buffer> pipelineOut, referenceOut;
  for (const json &spec : manifest["outputs"]) {
    std::string name = "output" + std::to_string(pipelineOut.size());
    pipelineOut.push_back(makeBuffer(spec, name));
    referenceOut.push_back(makeBuffer(spec, name));
  }
  auto packArgs = [&](std::vector<Buffer> &outs) {
    std::vector<void *> packed;
    for (Buffer &b : args)
      packed.push_back(b.describe());
    for (Buffer &b : outs)
      packed.push_back(b.describe());
    return packed;
  };

  std::cout << "dualpipe-run: " << manifest.value("model", "?") << ", "
            << manifest.value("stages", 0) << " stages on " << ranks
            << " ranks (placement " << manifest.value("placement", "?")
            << ", schedule " << manifest.value("schedule", "?")
            << "), backend " << opt.backend << "\n";

  // The pipeline: one thread per rank.
  dualpipe_world *world = dualpipe_world_create_local(ranks, opt.timeout);
  if (!world)
    die(std::string("cannot create the local world: ") +
        (dualpipe_rt_last_error() ? dualpipe_rt_last_error() : "?"));
  std::vector<std::vector<void *>> perRank;
  for (int32_t r = 0; r < ranks; ++r)
    perRank.push_back(packArgs(pipelineOut));
  auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int32_t r = 0; r < ranks; ++r)
    threads.emplace_back([&, r] {
      if (dualpipe_rt_bind(world, r) != 0)
        return;
      programs[r](perRank[r].data());
      dualpipe_rt_unbind();
    });
  for (std::thread &t : threads)
    t.join();
  double pipelineMs = std::chrono::duration<double, std::milli>(
                          std::chrono::steady_clock::now() - start)
                          .count();
  if (!opt.trace.empty()) {
    if (dualpipe_world_write_trace(world, opt.trace.c_str()) != 0)
      std::cerr << "dualpipe-run: warning: could not write the trace to "
                << opt.trace << "\n";
    else
      std::cout << "trace written to " << opt.trace << "\n";
  }
  if (dualpipe_world_failed(world)) {
    std::string err = dualpipe_world_error(world) ? dualpipe_world_error(world)
                                                  : "unknown failure";
    dualpipe_world_destroy(world);
    die("the pipeline failed: " + err);
  }
  dualpipe_world_destroy(world);

  // The single-device reference, on this thread.
  std::vector<void *> refArgs = packArgs(referenceOut);
  start = std::chrono::steady_clock::now();
  reference(refArgs.data());
  double referenceMs = std::chrono::duration<double, std::milli>(
                           std::chrono::steady_clock::now() - start)
                           .count();

  double maxDiff = 0, maxAbs = 0;
  size_t compared = 0;
  for (size_t o = 0; o < pipelineOut.size(); ++o) {
    const Buffer &p = pipelineOut[o], &r = referenceOut[o];
    std::printf("pipeline  (%d ranks): output %zu [%s] = %s  (%.3f ms)\n",
                ranks, o, shapeString(p.shape).c_str(), preview(p).c_str(),
                pipelineMs);
    std::printf("reference (1 rank):  output %zu [%s] = %s  (%.3f ms)\n", o,
                shapeString(r.shape).c_str(), preview(r).c_str(), referenceMs);
    for (size_t i = 0; i < p.values.size(); ++i) {
      maxDiff = std::max(maxDiff, std::fabs(double(p.values[i]) - r.values[i]));
      maxAbs = std::max(maxAbs, std::fabs(double(r.values[i])));
      ++compared;
    }
  }
  if (!opt.dumpOutputs.empty()) {
    st::TensorFile file;
    for (Buffer &b : pipelineOut)
      file.tensors[b.name] = st::Tensor::f32(b.shape, b.values.data());
    if (std::string err = st::writeSafeTensors(opt.dumpOutputs, file);
        !err.empty())
      die(err);
  }
  // Both runs execute the same compiled stage code in the same order, so
  // anything beyond float rounding noise is a bug, not a tolerance question.
  double rel = maxAbs > 0 ? maxDiff / maxAbs : maxDiff;
  bool agree = std::isfinite(rel) && rel <= 1e-6;
  std::printf("max |pipeline - reference| = %.3g (relative %.3g) over %zu "
              "values: the %d-rank and 1-rank results %s\n",
              maxDiff, rel, compared, ranks, agree ? "agree" : "DISAGREE");
  dlclose(lib);
  return agree ? 0 : 3;
}

//===----------------------------------------------------------------------===//
// Training: one step function per rank, losses and gradients out.
//===----------------------------------------------------------------------===//

namespace {

/// Relative error of `got` against `want`: max |got - want| over max |want|.
double relativeError(const std::vector<float> &got,
                     const std::vector<float> &want) {
  double diff = 0, scale = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    diff = std::max(diff, std::fabs(double(got[i]) - want[i]));
    scale = std::max(scale, std::fabs(double(want[i])));
  }
  return scale > 0 ? diff / scale : diff;
}

/// The buffers of one run of the step: what every rank writes.
struct StepOutputs {
  Buffer losses;
  std::vector<Buffer> grads; ///< One per parameter, in model order.
};

/// Runs every rank's step function once; fills each rank's outputs.
std::string runStep(const std::vector<PackedFn> &programs,
                    std::vector<Buffer> &inputs,
                    std::vector<StepOutputs> &outputs, double timeout,
                    const std::string &trace) {
  int32_t ranks = programs.size();
  dualpipe_world *world = dualpipe_world_create_local(ranks, timeout);
  if (!world)
    return std::string("cannot create the local world: ") +
           (dualpipe_rt_last_error() ? dualpipe_rt_last_error() : "?");
  std::vector<std::vector<void *>> packed(ranks);
  for (int32_t r = 0; r < ranks; ++r) {
    for (Buffer &b : inputs)
      packed[r].push_back(b.describe());
    packed[r].push_back(outputs[r].losses.describe());
    for (Buffer &g : outputs[r].grads)
      packed[r].push_back(g.describe());
  }
  std::vector<std::thread> threads;
  for (int32_t r = 0; r < ranks; ++r)
    threads.emplace_back([&, r] {
      if (dualpipe_rt_bind(world, r) != 0)
        return;
      programs[r](packed[r].data());
      dualpipe_rt_unbind();
    });
  for (std::thread &t : threads)
    t.join();
  if (!trace.empty() && dualpipe_world_write_trace(world, trace.c_str()) != 0)
    std::cerr << "dualpipe-run: warning: could not write the trace to " << trace
              << "\n";
  std::string error;
  if (dualpipe_world_failed(world))
    error = dualpipe_world_error(world) ? dualpipe_world_error(world)
                                        : "unknown failure";
  dualpipe_world_destroy(world);
  return error;
}

} // namespace

int runTraining(const Options &opt, const json &manifest) {
  int32_t ranks = manifest["ranks"].get<int32_t>();
  int64_t microbatches = manifest.value("microbatches", 1);
  std::string libPath =
      opt.outDir + "/" + manifest["library"].get<std::string>();
  void *lib = dlopen(libPath.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!lib)
    die(std::string("cannot load ") + libPath + ": " + dlerror());
  std::vector<PackedFn> programs;
  for (const json &name : manifest["entry_points"])
    programs.push_back(lookup(lib, name.get<std::string>(), libPath));
  std::vector<PackedFn> reference = {lookup(
      lib, manifest["reference_entry_point"].get<std::string>(), libPath)};

  // Inputs (shared read-only by all ranks) and each rank's outputs.
  std::vector<Buffer> inputs;
  StepOutputs shape;
  std::vector<std::string> paramNames;
  for (const json &spec : manifest["arguments"]) {
    std::string role = spec.value("role", "");
    Buffer b = makeBuffer(spec, spec.value("name", "?"));
    if (role == "losses")
      shape.losses = b;
    else if (role == "grad")
      shape.grads.push_back(b);
    else
      inputs.push_back(b);
    if (role == "param")
      paramNames.push_back(b.name);
  }
  st::TensorFile params, data;
  if (!opt.resume.empty()) {
    if (std::string err = st::readSafeTensors(opt.resume, params); !err.empty())
      die(err);
  } else if (!opt.params.empty()) {
    if (std::string err = st::readSafeTensors(opt.params, params); !err.empty())
      die(err);
  }
  if (!opt.data.empty())
    if (std::string err = st::readSafeTensors(opt.data, data); !err.empty())
      die(err);
  for (Buffer &b : inputs) {
    if (b.role == "param" && !params.tensors.empty())
      loadFrom(b, params, opt.resume.empty() ? opt.params : opt.resume, 0);
    else if (b.role != "param" && !opt.data.empty()) {
      // Inputs and labels hold all M micro-batches.
      Buffer whole = b;
      whole.role = "param"; // exact shape match
      loadFrom(whole, data, opt.data, 0);
      b.values = whole.values;
    } else {
      initialize(b, opt.seed);
    }
  }
  int64_t firstStep = 0;
  if (!opt.resume.empty()) {
    auto it = params.metadata.find("step");
    if (it != params.metadata.end())
      firstStep = std::strtoll(it->second.c_str(), nullptr, 10);
  }

  // Which rank's gradient to take for each parameter (the first owner; for
  // DualPipe both copies hold the summed gradient after the all-reduce).
  std::vector<int32_t> owner;
  for (const std::string &name : paramNames) {
    const json &ranksOf = manifest["param_ranks"].value(name, json::array());
    owner.push_back(ranksOf.empty() ? 0 : ranksOf[0].get<int32_t>());
  }

  std::cout << "dualpipe-run: " << manifest.value("schedule", "?") << " on "
            << ranks << " ranks, " << manifest.value("stages", 0)
            << " stages (" << manifest.value("placement", "?") << "), "
            << microbatches << " micro-batches per step, backend "
            << opt.backend << "\n";

  std::vector<StepOutputs> outs(ranks, shape);
  std::vector<Buffer> grads = shape.grads;
  Buffer losses = shape.losses;
  int status = 0;
  for (int64_t step = firstStep; step < firstStep + opt.steps; ++step) {
    bool last = step + 1 == firstStep + opt.steps;
    auto start = std::chrono::steady_clock::now();
    std::string err = runStep(programs, inputs, outs, opt.timeout,
                              last ? opt.trace : std::string());
    double ms = std::chrono::duration<double, std::milli>(
                    std::chrono::steady_clock::now() - start)
                    .count();
    if (!err.empty())
      die("step " + std::to_string(step) + " failed: " + err);
    std::fill(losses.values.begin(), losses.values.end(), 0.0f);
    for (const StepOutputs &o : outs)
      for (size_t m = 0; m < losses.values.size(); ++m)
        losses.values[m] += o.losses.values[m];
    for (size_t p = 0; p < grads.size(); ++p)
      grads[p].values = outs[owner[p]].grads[p].values;
    double mean = 0;
    for (float l : losses.values)
      mean += l;
    mean /= losses.values.size();
    std::printf("step %lld loss %.6f time %.3f ms\n", (long long)step, mean, ms);
    std::fflush(stdout);

    if (opt.check && step == firstStep) {
      std::vector<StepOutputs> refOut(1, shape);
      std::string refErr = runStep(reference, inputs, refOut, opt.timeout, "");
      if (!refErr.empty())
        die("the single-rank reference failed: " + refErr);
      double lossErr = relativeError(losses.values, refOut[0].losses.values);
      double gradErr = 0;
      std::string worst = "-";
      for (size_t p = 0; p < grads.size(); ++p) {
        double e = relativeError(grads[p].values, refOut[0].grads[p].values);
        if (e >= gradErr) {
          gradErr = e;
          worst = paramNames[p];
        }
      }
      bool ok = std::isfinite(lossErr) && std::isfinite(gradErr) &&
                lossErr <= 1e-5 && gradErr <= 1e-5;
      std::printf("check: %d-rank pipeline vs 1-rank reference: losses max "
                  "relative error %.3g, gradients %.3g (worst %s); tolerance "
                  "1e-5: %s\n",
                  ranks, lossErr, gradErr, worst.c_str(),
                  ok ? "PASS" : "FAIL");
      if (!ok)
        status = 4;
    }
    if (last && !opt.dumpGrads.empty()) {
      st::TensorFile file;
      for (size_t p = 0; p < grads.size(); ++p)
        file.tensors[paramNames[p]] =
            st::Tensor::f32(grads[p].shape, grads[p].values.data());
      if (std::string e = st::writeSafeTensors(opt.dumpGrads, file); !e.empty())
        die(e);
      std::printf("gradients written to %s\n", opt.dumpGrads.c_str());
    }
    // SGD, applied by the runner until the compiled optimizer step lands.
    size_t p = 0;
    for (Buffer &b : inputs)
      if (b.role == "param") {
        for (size_t i = 0; i < b.values.size(); ++i)
          b.values[i] -= static_cast<float>(opt.lr) * grads[p].values[i];
        ++p;
      }
  }
  if (!opt.trace.empty())
    std::printf("trace written to %s\n", opt.trace.c_str());
  if (!opt.save.empty()) {
    st::TensorFile file;
    for (Buffer &b : inputs)
      if (b.role == "param")
        file.tensors[b.name] = st::Tensor::f32(b.shape, b.values.data());
    file.metadata["step"] = std::to_string(firstStep + opt.steps);
    file.metadata["optimizer"] = "sgd";
    if (std::string e = st::writeSafeTensors(opt.save, file); !e.empty())
      die(e);
    std::printf("checkpoint written to %s (step %lld)\n", opt.save.c_str(),
                (long long)(firstStep + opt.steps));
  }
  dlclose(lib);
  return status;
}
