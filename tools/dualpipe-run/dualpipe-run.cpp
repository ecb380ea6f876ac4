//===- dualpipe-run.cpp - run a compiled training step on N ranks --------===//
//
// Loads OUTDIR/manifest.json and OUTDIR/step.so (written by
// dualpipe-compile), gives every rank program its buffers, runs one program
// per rank on the chosen backend, then runs the single-device reference
// entry point and compares the two.
//
//===----------------------------------------------------------------------===//
#include "CudaBackend.h"
#include "dualpipe/Runtime/Runtime.h"
#include "dualpipe/Runtime/SafeTensors.h"

#include <nlohmann/json.hpp>

#include <dlfcn.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <csignal>
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
  bool lrGiven = false; ///< --lr was given (it overrides a compiled lr).
  int64_t dp = 1;
  bool check = false;
  bool progress = true; ///< The live progress line (on a terminal only).
  std::string dumpGrads, save, resume;
  int64_t saveEvery = 0; ///< Also write --save every K steps (0: only at the end).
};

/// Set once this process is one of an MPI job: an error on one process must
/// then end them all (MPI_Abort), or the others would wait for it.
bool mpiJob = false;

/// Whether the live progress line is on the terminal now (stdout is a tty).
bool progressShown = false;

/// Erases the progress line, so that the next output starts a clean line.
void clearProgress() {
  if (!progressShown)
    return;
  std::fputs("\r\033[K", stdout);
  std::fflush(stdout);
  progressShown = false;
}

/// "1h02m", "3m07s", "12.5s".
std::string formatDuration(double seconds) {
  char text[32];
  if (seconds >= 3600)
    std::snprintf(text, sizeof text, "%dh%02dm", int(seconds / 3600),
                  int(seconds / 60) % 60);
  else if (seconds >= 60)
    std::snprintf(text, sizeof text, "%dm%02ds", int(seconds / 60),
                  int(seconds) % 60);
  else
    std::snprintf(text, sizeof text, "%.1fs", seconds);
  return text;
}

[[noreturn]] void die(const std::string &message, int code = 1) {
  clearProgress();
  std::cerr << "dualpipe-run: error: " << message << "\n";
  if (mpiJob)
    dualpipe_mpi_abort(code);
  std::exit(code);
}

void usage() {
  std::cout
      << "usage: dualpipe-run OUTDIR [options]\n"
         "Runs the step compiled by dualpipe-compile into OUTDIR, one program "
         "per rank,\nthen the single-device reference, and compares them.\n\n"
         "  --backend=local        ranks as threads of this process (the "
         "default)\n"
         "  --backend=mpi          one rank per process: run under mpirun -np "
         "RANKS x DP\n"
         "                         (training steps only)\n"
      << dualpipe::run::cudaOptionsHelp() <<
         "  --dp=R                 R data-parallel replicas of the pipeline "
         "(R x RANKS ranks),\n"
         "                         each on its own R-th of --data; gradients "
         "summed over the\n"
         "                         replicas, then divided by R (default 1)\n"
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
         "  --lr=X                 learning rate: of the runner's SGD "
         "(default 0.01), or\n"
         "                         overriding the compiled optimizer's "
         "(dualpipe-compile\n"
         "                         --optimizer=...; default its lr)\n"
         "  --check                also run the step on one rank without a "
         "pipeline and\n"
         "                         compare losses and gradients (relative "
         "error <= 1e-5)\n"
         "  --dump-grads=FILE      write the last step's gradients "
         "(.safetensors)\n"
         "  --save=FILE            write a checkpoint after the last step\n"
         "  --save-every=K         also write it every K steps (step "
         "numbers that are\n"
         "                         multiples of K; atomically: a reader sees "
         "the old or the\n"
         "                         new checkpoint)\n"
         "  --resume=FILE          continue from a checkpoint\n"
         "  --no-progress          no live progress line (step k/K, loss, "
         "mean step time,\n"
         "                         ETA), which is drawn only when stdout is a "
         "terminal (and\n"
         "                         not under mpirun); the 'step <k> loss <x> "
         "time <t> ms'\n"
         "                         lines are printed either way\n"
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
    } else if (dualpipe::run::parseCudaOption(a)) {
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
    } else if (a == "--no-progress") {
      o.progress = false;
    } else if (a == "--check") {
      o.check = true;
    } else if (const char *v = value("--dump-grads")) {
      o.dumpGrads = v;
    } else if (const char *v = value("--save")) {
      o.save = v;
    } else if (const char *v = value("--save-every")) {
      char *end = nullptr;
      o.saveEvery = std::strtoll(v, &end, 10);
      if (!*v || *end || o.saveEvery < 1)
        die("--save-every needs a positive integer, got '" + std::string(v) +
                "'",
            2);
    } else if (const char *v = value("--resume")) {
      o.resume = v;
    } else if (const char *v = value("--steps")) {
      char *end = nullptr;
      o.steps = std::strtoll(v, &end, 10);
      if (!*v || *end || o.steps < 1)
        die("--steps needs a positive integer, got '" + std::string(v) + "'",
            2);
    } else if (const char *v = value("--dp")) {
      char *end = nullptr;
      o.dp = std::strtoll(v, &end, 10);
      if (!*v || *end || o.dp < 1)
        die("--dp needs a positive integer, got '" + std::string(v) + "'", 2);
    } else if (const char *v = value("--lr")) {
      char *end = nullptr;
      o.lr = std::strtod(v, &end);
      if (!*v || *end || !(o.lr >= 0))
        die("--lr needs a non-negative number, got '" + std::string(v) + "'",
            2);
      o.lrGiven = true;
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
  if (o.saveEvery > 0 && o.save.empty())
    die("--save-every needs --save=FILE (the checkpoint it rewrites)", 2);
  if (o.backend == "mpi" && !dualpipe_rt_has_backend("mpi"))
    die("backend 'mpi' was not built: CMake did not find MPI when the runtime "
        "was built (install libopenmpi-dev and reconfigure); use "
        "--backend=local (ranks as threads)",
        2);
  if (o.backend == "nccl" && !dualpipe_rt_has_backend("nccl"))
    die("backend 'nccl' was not built: CMake needs CUDA, NCCL and MPI when "
        "the runtime is built; use --backend=local or --backend=mpi",
        2);
  if (o.backend != "local" && o.backend != "mpi" && o.backend != "nccl")
    die("backend '" + o.backend +
            "' is not built yet; use --backend=local (ranks as threads)",
        2);
  return o;
}

/// Element types an argument may have: every role may be f32; inputs and
/// labels may also be f64, i64 or i32 (token ids, class indices). Losses,
/// gradients and parameters are f32.
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

/// "f32" -> "F32": the safetensors name of a dtype.
std::string safetensorsDtype(const std::string &dtype) {
  std::string s = dtype;
  for (char &c : s)
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

/// One tensor argument: its data (raw, 8-byte aligned storage of `dtype`)
/// and the memref descriptor generated code reads ({allocated, aligned,
/// offset, sizes[r], strides[r]}, all 8 bytes).
struct Buffer {
  std::string name, role, dtype = "f32";
  std::vector<int64_t> shape;
  std::vector<uint64_t, dualpipe::run::ArgumentAllocator<uint64_t>> storage;
  std::vector<int64_t> descriptor;
  /// Synthetic integer values are drawn from [lo, hi) (manifest int_range).
  bool hasRange = false;
  int64_t lo = 0, hi = 0;

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
  /// The values of an f32 buffer (losses, gradients, parameters).
  float *f32() { return reinterpret_cast<float *>(storage.data()); }
  const float *f32() const {
    return reinterpret_cast<const float *>(storage.data());
  }
  /// Element i as a double, whatever the dtype (for printing).
  double at(int64_t i) const {
    if (dtype == "f32")
      return f32()[i];
    if (dtype == "f64")
      return reinterpret_cast<const double *>(data())[i];
    if (dtype == "i64")
      return static_cast<double>(reinterpret_cast<const int64_t *>(data())[i]);
    return reinterpret_cast<const int32_t *>(data())[i];
  }
  /// Copies `other`'s values (same dtype and element count).
  void copyFrom(const Buffer &other) {
    std::memcpy(data(), other.data(), bytes());
  }
  void *describe() {
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
};

/// The safetensors tensor holding a copy of `b`.
st::Tensor toTensor(const Buffer &b) {
  st::Tensor t;
  t.dtype = safetensorsDtype(b.dtype);
  t.shape = b.shape;
  t.bytes.assign(b.data(), b.data() + b.bytes());
  return t;
}

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
  if (isInteger(b.dtype)) {
    // Integers (token ids, class indices): uniform in [lo, hi).
    if (!b.hasRange)
      die("the " + b.role + " '" + b.name + "' is " + b.dtype + " [" +
          shapeString(b.shape) +
          "] and has no range to draw synthetic values from: pass "
          "--data=FILE.safetensors holding '" +
          b.name +
          "', or mark the model argument with {dualpipe.int_range = "
          "array<i64: LO, HI>} (values in [LO, HI)) and recompile");
    uint64_t span = static_cast<uint64_t>(b.hi - b.lo);
    for (int64_t i = 0; i < b.count(); ++i) {
      auto v = static_cast<int64_t>(
          b.lo + static_cast<int64_t>(
                     (static_cast<unsigned __int128>(mix(state)) * span) >> 64));
      if (b.dtype == "i64")
        reinterpret_cast<int64_t *>(b.data())[i] = v;
      else
        reinterpret_cast<int32_t *>(b.data())[i] = static_cast<int32_t>(v);
    }
    return;
  }
  // Parameters: uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)), like PyTorch's
  // Linear; inputs: uniform(-1, 1).
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

/// Fills `b` from a tensor of a safetensors file: the same shape, or (for
/// inputs) a leading dimension that is a multiple of the micro-batch's, of
/// which micro-batch `microbatch` is taken. The dtype must be the
/// argument's; integer tensors convert between I64 and I32 when every value
/// fits.
void loadFrom(Buffer &b, const st::TensorFile &file, const std::string &path,
              int64_t microbatch) {
  auto it = file.tensors.find(b.name);
  if (it == file.tensors.end())
    die(path + " has no tensor named '" + b.name + "' (the " + b.role +
        " of shape " + shapeString(b.shape) + ")");
  const st::Tensor &t = it->second;
  std::string want = safetensorsDtype(b.dtype);
  bool convertInt = isInteger(b.dtype) && (t.dtype == "I64" || t.dtype == "I32");
  if (t.dtype != want && !convertInt)
    die(path + ": tensor '" + b.name + "' is " + t.dtype + "; the step takes " +
        want);
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
  if (t.dtype == want) {
    std::memcpy(b.data(), t.bytes.data() + first * elementBytes(b.dtype),
                b.bytes());
    return;
  }
  // I32 <-> I64.
  for (int64_t i = 0; i < b.count(); ++i) {
    int64_t v;
    if (t.dtype == "I64")
      std::memcpy(&v, t.bytes.data() + (first + i) * 8, 8);
    else {
      int32_t w;
      std::memcpy(&w, t.bytes.data() + (first + i) * 4, 4);
      v = w;
    }
    if (b.dtype == "i64") {
      reinterpret_cast<int64_t *>(b.data())[i] = v;
    } else {
      if (v < INT32_MIN || v > INT32_MAX)
        die(path + ": tensor '" + b.name + "' holds " + std::to_string(v) +
            ", which does not fit the step's i32");
      reinterpret_cast<int32_t *>(b.data())[i] = static_cast<int32_t>(v);
    }
  }
}

Buffer makeBuffer(const json &spec, const std::string &defaultName) {
  Buffer b;
  b.name = spec.value("name", defaultName);
  b.role = spec.value("role", "output");
  b.dtype = spec.value("dtype", "?");
  bool data = b.role == "input" || b.role == "label";
  if (elementBytes(b.dtype) == 0 || (!data && b.dtype != "f32"))
    die("the " + b.role + " '" + b.name + "' has dtype '" + b.dtype +
        "'; this runner handles f32 parameters, gradients, losses and "
        "outputs, and f32, f64, i64 or i32 inputs and labels");
  for (const json &d : spec.at("shape"))
    b.shape.push_back(d.get<int64_t>());
  if (spec.contains("int_range")) {
    const json &r = spec["int_range"];
    if (!isInteger(b.dtype))
      die("the " + b.role + " '" + b.name + "' is " + b.dtype +
          " but the manifest gives it an int_range; only i64 and i32 "
          "arguments take one");
    if (!r.is_array() || r.size() != 2 || !r[0].is_number_integer() ||
        !r[1].is_number_integer() || r[0].get<int64_t>() >= r[1].get<int64_t>())
      die("the int_range of '" + b.name + "' must be [LO, HI] with integers "
          "LO < HI, got " + r.dump());
    b.hasRange = true;
    b.lo = r[0].get<int64_t>();
    b.hi = r[1].get<int64_t>();
    if (b.dtype == "i32" && (b.lo < INT32_MIN || b.hi - 1 > INT32_MAX))
      die("the int_range of '" + b.name + "' " + r.dump() +
          " does not fit its i32 values");
  }
  b.allocate();
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
  for (const char *key : {"ranks", "entry_points", "arguments", "library"})
    if (!m.contains(key))
      die(path + " has no '" + key + "' field");
  // A training step compiled with --reference=false has no reference.
  if (m.value("mode", "") != "train" && !m.contains("reference_entry_point"))
    die(path + " has no 'reference_entry_point' field");
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
    os << (i ? ", " : "") << b.at(i);
  os << (b.count() > n ? ", ...]" : "]");
  double sum = 0;
  for (int64_t i = 0; i < b.count(); ++i)
    sum += b.f32()[i];
  os << "  sum " << sum;
  return os.str();
}

} // namespace

int runTraining(const Options &opt, const json &manifest);

int main(int argc, char **argv) {
  Options opt = parseArgs(argc, argv);
  json manifest = readManifest(opt.outDir);
  if (std::string error = dualpipe::run::startCudaBackend(
          manifest.value("target", "cpu"), opt.backend);
      !error.empty())
    die(error);
  if (manifest.value("mode", "") == "train")
    return runTraining(opt, manifest);
  if (opt.backend != "local" || opt.dp != 1)
    die(opt.outDir + " holds a forward-only step: --backend=" + opt.backend +
            " and --dp run training steps (dualpipe-compile --schedule=...); "
            "run it with --backend=local and no --dp",
        2);
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
      dualpipe::run::finishCudaProgram();
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
  if (std::string error = dualpipe::run::finishCudaProgram(); !error.empty())
    die("the reference failed: " + error);
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
    for (int64_t i = 0; i < p.count(); ++i) {
      maxDiff = std::max(maxDiff, std::fabs(double(p.f32()[i]) - r.f32()[i]));
      maxAbs = std::max(maxAbs, std::fabs(double(r.f32()[i])));
      ++compared;
    }
  }
  if (!opt.dumpOutputs.empty()) {
    st::TensorFile file;
    for (Buffer &b : pipelineOut)
      file.tensors[b.name] = toTensor(b);
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
double relativeError(const float *got, const std::vector<float> &want) {
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

/// "out/t.json" with ".rank3" -> "out/t.rank3.json".
std::string withSuffix(const std::string &path, const std::string &suffix) {
  size_t slash = path.find_last_of('/');
  size_t dot = path.find_last_of('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash))
    return path + suffix;
  return path.substr(0, dot) + suffix + path.substr(dot);
}

/// Runs every rank's step function once on the local backend: one world of
/// programs.size() threads per replica, every replica at once. Fills
/// outputs[d][r]; traces[d] (if not empty) gets replica d's timeline.
std::string runStep(const std::vector<PackedFn> &programs,
                    std::vector<std::vector<Buffer>> &inputs,
                    std::vector<std::vector<StepOutputs>> &outputs,
                    double timeout, const std::vector<std::string> &traces) {
  int32_t ranks = programs.size();
  size_t replicas = inputs.size();
  std::vector<dualpipe_world *> worlds;
  for (size_t d = 0; d < replicas; ++d) {
    dualpipe_world *world = dualpipe_world_create_local(ranks, timeout);
    if (!world) {
      for (dualpipe_world *w : worlds)
        dualpipe_world_destroy(w);
      return std::string("cannot create the local world: ") +
             (dualpipe_rt_last_error() ? dualpipe_rt_last_error() : "?");
    }
    worlds.push_back(world);
  }
  std::vector<std::vector<std::vector<void *>>> packed(
      replicas, std::vector<std::vector<void *>>(ranks));
  for (size_t d = 0; d < replicas; ++d)
    for (int32_t r = 0; r < ranks; ++r) {
      for (Buffer &b : inputs[d])
        packed[d][r].push_back(b.describe());
      packed[d][r].push_back(outputs[d][r].losses.describe());
      for (Buffer &g : outputs[d][r].grads)
        packed[d][r].push_back(g.describe());
    }
  std::vector<std::thread> threads;
  for (size_t d = 0; d < replicas; ++d)
    for (int32_t r = 0; r < ranks; ++r)
      threads.emplace_back([&, d, r] {
        if (dualpipe_rt_bind(worlds[d], r) != 0)
          return;
        programs[r](packed[d][r].data());
        dualpipe::run::finishCudaProgram();
        dualpipe_rt_unbind();
      });
  for (std::thread &t : threads)
    t.join();
  std::string error;
  for (size_t d = 0; d < replicas; ++d) {
    const std::string &trace = d < traces.size() ? traces[d] : std::string();
    if (!trace.empty() &&
        dualpipe_world_write_trace(worlds[d], trace.c_str()) != 0)
      std::cerr << "dualpipe-run: warning: could not write the trace to "
                << trace << "\n";
    if (error.empty() && dualpipe_world_failed(worlds[d])) {
      error = dualpipe_world_error(worlds[d]) ? dualpipe_world_error(worlds[d])
                                              : "unknown failure";
      if (replicas > 1)
        error = "replica " + std::to_string(d) + ": " + error;
    }
  }
  for (dualpipe_world *world : worlds)
    dualpipe_world_destroy(world);
  return error;
}

/// The mpi backend: this process runs rank `rank` of its replica's pipeline
/// world once; fills `out`.
std::string runOwnRank(PackedFn program, dualpipe_world *pipe, int32_t rank,
                       std::vector<Buffer> &inputs, StepOutputs &out) {
  std::vector<void *> packed;
  for (Buffer &b : inputs)
    packed.push_back(b.describe());
  packed.push_back(out.losses.describe());
  for (Buffer &g : out.grads)
    packed.push_back(g.describe());
  if (dualpipe_rt_bind(pipe, rank) != 0)
    return dualpipe_rt_last_error() ? dualpipe_rt_last_error() : "cannot bind";
  program(packed.data());
  dualpipe::run::finishCudaProgram();
  dualpipe_rt_unbind();
  if (dualpipe_world_failed(pipe))
    return dualpipe_world_error(pipe) ? dualpipe_world_error(pipe)
                                      : "unknown failure";
  return "";
}

/// The optimizer step compiled into step.so (the manifest's "optimizer",
/// dualpipe-compile --optimizer=...): called once per step on the combined
/// gradients instead of the runner's SGD. Its arguments, in call order, are
/// memref descriptors of the parameters (updated in place), the gradients,
/// its state tensors (zero-initialised, updated in place, checkpointed under
/// their names) and the scalars [lr, t] (t = the 1-based step number).
struct CompiledOptimizer {
  std::string kind, entryPoint;
  PackedFn fn = nullptr;
  double lr = 0;
  enum Slot { Param, Grad, State, Scalars };
  /// Each argument: what it is and its index (parameter, gradient or state).
  std::vector<std::pair<Slot, size_t>> order;
  std::vector<Buffer> state;
  Buffer scalars;

  explicit operator bool() const { return fn != nullptr; }

  /// One step on `params` (in model order) with `grads`, at step `t`.
  void apply(const std::vector<Buffer *> &params, std::vector<Buffer> &grads,
             int64_t t) {
    scalars.f32()[0] = static_cast<float>(lr);
    scalars.f32()[1] = static_cast<float>(t);
    std::vector<void *> packed;
    for (auto [slot, i] : order)
      packed.push_back(slot == Param   ? params[i]->describe()
                       : slot == Grad  ? grads[i].describe()
                       : slot == State ? state[i].describe()
                                       : scalars.describe());
    fn(packed.data());
  }
};

/// Reads the manifest's "optimizer" and finds its entry point in `lib`.
CompiledOptimizer loadOptimizer(const json &spec, void *lib,
                                const std::string &libPath,
                                const std::vector<std::string> &paramNames,
                                const std::vector<Buffer> &grads,
                                const Options &opt) {
  const std::string where = "the manifest's \"optimizer\"";
  CompiledOptimizer o;
  if (!spec.is_object() || !spec.contains("kind") ||
      !spec["kind"].is_string() || !spec.contains("entry_point") ||
      !spec["entry_point"].is_string() || !spec.contains("arguments") ||
      !spec["arguments"].is_array())
    die(where + " needs \"kind\", \"entry_point\" and \"arguments\"");
  o.kind = spec["kind"].get<std::string>();
  o.entryPoint = spec["entry_point"].get<std::string>();
  o.fn = lookup(lib, o.entryPoint, libPath);
  const json hyper = spec.value("hyperparameters", json::object());
  if (opt.lrGiven)
    o.lr = opt.lr;
  else if (hyper.is_object() && hyper.contains("lr") &&
           hyper["lr"].is_number())
    o.lr = hyper["lr"].get<double>();
  else
    die(where + " has no hyperparameters.lr; pass --lr");

  auto indexOf = [&](const std::string &name) -> size_t {
    for (size_t p = 0; p < paramNames.size(); ++p)
      if (paramNames[p] == name)
        return p;
    die(where + " names '" + name + "', which is not a parameter of the step");
  };
  std::vector<int> seenParam(paramNames.size()), seenGrad(paramNames.size());
  int scalars = 0;
  for (const json &a : spec["arguments"]) {
    if (!a.is_object() || !a.contains("shape"))
      die(where + ": every argument needs a role, a name and a shape");
    std::string role = a.value("role", ""), name = a.value("name", "");
    std::string dtype = a.value("dtype", "?");
    std::vector<int64_t> shape;
    for (const json &d : a["shape"])
      shape.push_back(d.get<int64_t>());
    if (dtype != "f32")
      die(where + ": argument '" + name + "' (" + role + ") is " + dtype +
          "; this runner handles f32 optimizer arguments");
    auto sameShape = [&](size_t p) {
      if (shape != grads[p].shape)
        die(where + ": the " + role + " '" + name + "' has shape " +
            shapeString(shape) + ", but the step's parameter is " +
            shapeString(grads[p].shape));
    };
    if (role == "param" || role == "grad") {
      size_t p = indexOf(name);
      sameShape(p);
      ++(role == "param" ? seenParam : seenGrad)[p];
      o.order.push_back({role == "param" ? CompiledOptimizer::Param
                                         : CompiledOptimizer::Grad,
                         p});
    } else if (role == "state") {
      for (const std::string &n : paramNames)
        if (n == name)
          die(where + ": the state tensor '" + name +
              "' has a parameter's name (checkpoints hold both)");
      for (const Buffer &b : o.state)
        if (b.name == name)
          die(where + " lists the state tensor '" + name + "' twice");
      Buffer b;
      b.name = name;
      b.role = "state";
      b.shape = shape;
      b.allocate(); // zero-initialised
      o.order.push_back({CompiledOptimizer::State, o.state.size()});
      o.state.push_back(std::move(b));
    } else if (role == "scalars") {
      if (shape != std::vector<int64_t>{2})
        die(where + ": the scalars argument must have shape [2] ([lr, t]), "
            "got " + shapeString(shape));
      o.scalars.name = name;
      o.scalars.role = "scalars";
      o.scalars.shape = shape;
      o.scalars.allocate();
      o.order.push_back({CompiledOptimizer::Scalars, 0});
      ++scalars;
    } else {
      die(where + ": argument '" + name + "' has role '" + role +
          "'; expected param, grad, state or scalars");
    }
  }
  for (size_t p = 0; p < paramNames.size(); ++p)
    if (seenParam[p] != 1 || seenGrad[p] != 1)
      die(where + " must take the parameter '" + paramNames[p] +
          "' and its gradient once each (it takes them " +
          std::to_string(seenParam[p]) + " and " +
          std::to_string(seenGrad[p]) + " times)");
  if (scalars != 1)
    die(where + " must take one scalars argument ([lr, t]), it takes " +
        std::to_string(scalars));
  return o;
}

/// DUALPIPE_FAULT=RANK:STEP[:hang] (a test hook): at the start of that step
/// that rank kills itself with SIGKILL, or with ":hang" stops answering
/// (sleeps until killed), so the others must time out.
struct Fault {
  int64_t rank = -1, step = -1;
  bool hang = false;
};

Fault faultFromEnvironment() {
  Fault fault;
  const char *text = std::getenv("DUALPIPE_FAULT");
  if (!text || !*text)
    return fault;
  std::string spec = text, rest = spec;
  bool ok = false;
  if (rest.size() > 5 && rest.compare(rest.size() - 5, 5, ":hang") == 0) {
    fault.hang = true;
    rest.resize(rest.size() - 5);
  }
  size_t colon = rest.find(':');
  if (colon != std::string::npos) {
    std::string a = rest.substr(0, colon), b = rest.substr(colon + 1);
    char *end1 = nullptr, *end2 = nullptr;
    fault.rank = std::strtoll(a.c_str(), &end1, 10);
    fault.step = std::strtoll(b.c_str(), &end2, 10);
    ok = !a.empty() && !b.empty() && !*end1 && !*end2 && fault.rank >= 0 &&
         fault.step >= 0;
  }
  if (!ok)
    die("DUALPIPE_FAULT must be RANK:STEP or RANK:STEP:hang (non-negative "
        "integers), got '" +
            spec + "'",
        2);
  return fault;
}

} // namespace

int runTraining(const Options &opt, const json &manifest) {
  int32_t ranks = manifest["ranks"].get<int32_t>();
  int64_t microbatches = manifest.value("microbatches", 1);
  const int64_t replicas = opt.dp;
  const bool mpi = opt.backend == "mpi" || opt.backend == "nccl";
  Fault fault = faultFromEnvironment();

  // The mpi backend: this process is one rank of R x N. `all` joins every
  // process (for combining losses and gradients), `pipe` the N of this
  // process's replica (what the step functions talk over).
  dualpipe_world *all = nullptr, *pipe = nullptr;
  int32_t globalRank = 0, pipeRank = 0, replica = 0;
  if (mpi) {
    all = dualpipe_world_create_mpi(opt.timeout);
    if (!all)
      die(std::string("cannot join the MPI job: ") +
          (dualpipe_rt_last_error() ? dualpipe_rt_last_error() : "?"));
    mpiJob = true;
    globalRank = dualpipe_world_hosted_rank(all);
    int32_t size = dualpipe_world_size(all);
    if (size != ranks * replicas) {
      // Every process sees the same sizes: rank 0 says it, all leave.
      if (globalRank == 0)
        std::cerr << "dualpipe-run: error: the MPI job has " << size
                  << " process" << (size == 1 ? "" : "es") << ", but "
                  << opt.outDir << " is a pipeline of " << ranks
                  << " ranks and --dp=" << replicas << " asks for " << ranks
                  << " x " << replicas << " = " << ranks * replicas
                  << "; run mpirun -np " << ranks * replicas << "\n";
      dualpipe_world_destroy(all);
      dualpipe_mpi_finalize();
      std::exit(2);
    }
    pipe = opt.backend == "nccl"
               ? dualpipe_world_create_nccl(ranks, opt.timeout)
               : dualpipe_world_create_mpi_group(ranks, opt.timeout);
    if (!pipe)
      die(std::string("cannot create the pipeline's MPI world: ") +
          (dualpipe_rt_last_error() ? dualpipe_rt_last_error() : "?"));
    pipeRank = dualpipe_world_hosted_rank(pipe);
    replica = globalRank / ranks;
    dualpipe_world_set_trace_limit(pipe, 0);
  }
  const bool leader = globalRank == 0; // prints and writes files

  std::string libPath =
      opt.outDir + "/" + manifest["library"].get<std::string>();
  void *lib = dlopen(libPath.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!lib)
    die(std::string("cannot load ") + libPath + ": " + dlerror());
  std::vector<PackedFn> programs;
  for (const json &name : manifest["entry_points"])
    programs.push_back(lookup(lib, name.get<std::string>(), libPath));
  std::vector<PackedFn> reference;
  if (manifest.contains("reference_entry_point"))
    reference.push_back(lookup(
        lib, manifest["reference_entry_point"].get<std::string>(), libPath));
  else if (opt.check)
    die(opt.outDir + " was compiled with --reference=false: it has no "
        "single-device reference for --check; recompile without "
        "--reference=false, or run without --check");

  // Inputs (shared read-only by all ranks of a replica) and each rank's
  // outputs.
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
  // Replica d gets the d-th R-th of every input and label: R x M
  // micro-batches in all.
  std::vector<std::vector<Buffer>> args(replicas, inputs);
  for (size_t i = 0; i < inputs.size(); ++i) {
    Buffer &b = inputs[i];
    if (b.role == "param") {
      if (!params.tensors.empty())
        loadFrom(b, params, opt.resume.empty() ? opt.params : opt.resume, 0);
      else
        initialize(b, opt.seed);
      for (int64_t d = 0; d < replicas; ++d)
        args[d][i].copyFrom(b);
      continue;
    }
    // Inputs and labels hold all M micro-batches (R x M with --dp=R).
    Buffer whole = b;
    whole.role = "param"; // exact shape match
    if (replicas > 1 && !b.shape.empty()) {
      whole.shape[0] *= replicas;
      whole.allocate();
    }
    if (!opt.data.empty()) {
      auto it = data.tensors.find(b.name);
      if (replicas > 1 && it != data.tensors.end() &&
          it->second.shape != whole.shape)
        die(opt.data + ": tensor '" + b.name + "' has shape " +
            shapeString(it->second.shape) + ", but --dp=" +
            std::to_string(replicas) + " needs " + std::to_string(replicas) +
            " x " + std::to_string(microbatches) + " micro-batches: shape " +
            shapeString(whole.shape));
      loadFrom(whole, data, opt.data, 0);
    } else {
      whole.role = b.role;
      initialize(whole, opt.seed);
    }
    for (int64_t d = 0; d < replicas; ++d)
      std::memcpy(args[d][i].data(), whole.data() + d * b.bytes(), b.bytes());
  }
  int64_t firstStep = 0;
  if (!opt.resume.empty()) {
    auto it = params.metadata.find("step");
    if (it != params.metadata.end())
      firstStep = std::strtoll(it->second.c_str(), nullptr, 10);
  }

  // The compiled optimizer, if the step has one; else the runner's SGD.
  CompiledOptimizer optimizer;
  if (manifest.contains("optimizer"))
    optimizer = loadOptimizer(manifest["optimizer"], lib, libPath, paramNames,
                              shape.grads, opt);
  const std::string optimizerKind = optimizer ? optimizer.kind : "sgd";
  if (!opt.resume.empty()) {
    auto it = params.metadata.find("optimizer");
    std::string written = it == params.metadata.end() ? "" : it->second;
    if (written != optimizerKind && (optimizer || !written.empty()))
      die(opt.resume + " was written with optimizer '" +
          (written.empty() ? "none" : written) + "', but this step " +
          (optimizer ? "has the compiled optimizer '" + optimizer.kind + "'"
                     : std::string("has no compiled optimizer (the runner's "
                                   "sgd)")) +
          "; resume with the step it was trained with");
    for (Buffer &b : optimizer.state) {
      auto t = params.tensors.find(b.name);
      if (t == params.tensors.end())
        die(opt.resume + " has no optimizer state tensor '" + b.name +
            "' (the " + optimizer.kind + " optimizer's, shape " +
            shapeString(b.shape) + ")");
      if (t->second.dtype != "F32" || t->second.shape != b.shape)
        die(opt.resume + ": the optimizer state tensor '" + b.name + "' is " +
            t->second.dtype + " " + shapeString(t->second.shape) +
            ", but the step's is F32 " + shapeString(b.shape));
      std::memcpy(b.data(), t->second.bytes.data(), b.bytes());
    }
  }
  // Where each parameter is among the arguments (model order).
  std::vector<size_t> paramSlots;
  for (size_t i = 0; i < inputs.size(); ++i)
    if (inputs[i].role == "param")
      paramSlots.push_back(i);

  // Which rank's gradient to take for each parameter (the first owner; for
  // DualPipe both copies hold the summed gradient after the all-reduce).
  std::vector<int32_t> owner;
  for (const std::string &name : paramNames) {
    const json &ranksOf = manifest["param_ranks"].value(name, json::array());
    owner.push_back(ranksOf.empty() ? 0 : ranksOf[0].get<int32_t>());
  }

  if (leader) {
    std::cout << "dualpipe-run: " << manifest.value("schedule", "?") << " on "
              << ranks << " ranks, " << manifest.value("stages", 0)
              << " stages (" << manifest.value("placement", "?") << "), "
              << microbatches << " micro-batches per step, backend "
              << opt.backend;
    if (replicas > 1)
      std::cout << ", " << replicas << " data-parallel replicas ("
                << ranks * replicas << " ranks in all)";
    std::cout << "\n";
    if (optimizer)
      std::cout << "optimizer: " << optimizer.kind << " (compiled, "
                << optimizer.entryPoint << "), lr " << optimizer.lr << ", "
                << optimizer.state.size() << " state tensors\n";
    std::cout << std::flush;
  }

  std::vector<std::vector<StepOutputs>> outs(
      mpi ? 1 : replicas, std::vector<StepOutputs>(mpi ? 1 : ranks, shape));
  std::vector<Buffer> grads = shape.grads;
  // The losses of all R x M micro-batches, replica by replica.
  std::vector<float> losses(replicas * shape.losses.count(), 0.0f);
  const size_t m = shape.losses.count();
  std::vector<int32_t> everyone(ranks * replicas);
  for (size_t r = 0; r < everyone.size(); ++r)
    everyone[r] = static_cast<int32_t>(r);
  // A checkpoint after `done` steps: the parameters, the optimizer's state,
  // the step counter (for --resume) and the optimizer's kind.
  auto saveCheckpoint = [&](int64_t done) {
    if (!leader)
      return;
    clearProgress();
    st::TensorFile file;
    for (Buffer &b : args[0])
      if (b.role == "param")
        file.tensors[b.name] = toTensor(b);
    for (const Buffer &b : optimizer.state)
      file.tensors[b.name] = toTensor(b);
    file.metadata["step"] = std::to_string(done);
    file.metadata["optimizer"] = optimizerKind;
    if (std::string e = st::writeSafeTensors(opt.save, file); !e.empty())
      die(e);
    std::printf("checkpoint written to %s (step %lld)\n", opt.save.c_str(),
                (long long)done);
    std::fflush(stdout);
  };

  // On a terminal, a live line under the step lines: step k/K, loss, mean
  // wall time per step (everything: the step, combining, the update, any
  // check or checkpoint) and the time left. Not under mpirun: it gives every
  // process a pseudo-terminal whatever its own output is (a pipe, a file),
  // and forwards the redraws into it.
  const bool showProgress =
      leader && !mpi && opt.progress && isatty(STDOUT_FILENO);
  const auto runStart = std::chrono::steady_clock::now();
  int status = 0;
  for (int64_t step = firstStep; step < firstStep + opt.steps; ++step) {
    bool last = step + 1 == firstStep + opt.steps;
    if (step == fault.step &&
        (mpi ? fault.rank == globalRank : fault.rank < ranks * replicas)) {
      // One write: std::cerr writes each << at once, and mpirun interleaves
      // the pieces with the other processes' lines.
      std::string line = "dualpipe-run: DUALPIPE_FAULT: rank " +
                         std::to_string(fault.rank) +
                         (fault.hang ? " stops answering"
                                     : " kills itself (SIGKILL)") +
                         " at the start of step " + std::to_string(step) +
                         "\n";
      std::fputs(line.c_str(), stderr);
      std::fflush(stderr);
      // Give mpirun's output forwarding a moment to take the line before the
      // process vanishes: a SIGKILL right after the write sometimes lost it.
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
      if (!fault.hang)
        std::raise(SIGKILL);
      for (;;)
        std::this_thread::sleep_for(std::chrono::seconds(1));
    }
    auto start = std::chrono::steady_clock::now();
    std::string err;
    if (mpi) {
      if (last && !opt.trace.empty())
        dualpipe_world_set_trace_limit(pipe, 1000000);
      err = runOwnRank(programs[pipeRank], pipe, pipeRank, args[replica],
                       outs[0][0]);
      if (!err.empty() && replicas > 1)
        err = "replica " + std::to_string(replica) + ": " + err;
    } else {
      std::vector<std::string> traces;
      if (last && !opt.trace.empty())
        for (int64_t d = 0; d < replicas; ++d)
          traces.push_back(replicas == 1
                               ? opt.trace
                               : withSuffix(opt.trace,
                                            ".replica" + std::to_string(d)));
      err = runStep(programs, args, outs, opt.timeout, traces);
    }
    if (!err.empty()) {
      if (mpi && dualpipe_world_failed_rank(pipe) != pipeRank)
        // Let the rank that failed first say so before this one ends the job.
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
      die("step " + std::to_string(step) + " failed: " + err);
    }

    // Losses: summed over the ranks of a replica (only the rank with the
    // last stage of a micro-batch writes it). Gradients: each parameter's
    // owner's, summed over the replicas in replica order, then divided by R.
    if (mpi) {
      size_t total = losses.size();
      for (const Buffer &g : grads)
        total += g.count();
      std::vector<float> buffer(total, 0.0f);
      std::copy(outs[0][0].losses.f32(), outs[0][0].losses.f32() + m,
                buffer.begin() + replica * m);
      size_t at = losses.size();
      for (size_t p = 0; p < grads.size(); ++p) {
        const Buffer &mine = outs[0][0].grads[p];
        if (owner[p] == pipeRank)
          std::copy(mine.f32(), mine.f32() + mine.count(), buffer.begin() + at);
        at += mine.count();
      }
      if (dualpipe_rt_bind(all, globalRank) != 0 ||
          dualpipe_rt_allreduce_sum_f32(buffer.data(), buffer.size(),
                                        everyone.data(), everyone.size()) != 0)
        die("step " + std::to_string(step) +
            " failed while combining the ranks' losses and gradients: " +
            (dualpipe_rt_last_error() ? dualpipe_rt_last_error() : "?"));
      dualpipe_rt_unbind();
      std::copy(buffer.begin(), buffer.begin() + losses.size(),
                losses.begin());
      at = losses.size();
      for (Buffer &g : grads) {
        std::copy(buffer.begin() + at, buffer.begin() + at + g.count(),
                  g.f32());
        at += g.count();
      }
    } else {
      std::fill(losses.begin(), losses.end(), 0.0f);
      for (int64_t d = 0; d < replicas; ++d)
        for (const StepOutputs &o : outs[d])
          for (size_t k = 0; k < m; ++k)
            losses[d * m + k] += o.losses.f32()[k];
      for (size_t p = 0; p < grads.size(); ++p) {
        if (replicas == 1) {
          grads[p].copyFrom(outs[0][owner[p]].grads[p]);
          continue;
        }
        std::fill(grads[p].f32(), grads[p].f32() + grads[p].count(), 0.0f);
        for (int64_t d = 0; d < replicas; ++d)
          for (int64_t i = 0; i < grads[p].count(); ++i)
            grads[p].f32()[i] += outs[d][owner[p]].grads[p].f32()[i];
      }
    }
    if (replicas > 1)
      for (Buffer &g : grads)
        for (int64_t i = 0; i < g.count(); ++i)
          g.f32()[i] /= static_cast<float>(replicas);
    double ms = std::chrono::duration<double, std::milli>(
                    std::chrono::steady_clock::now() - start)
                    .count();
    double mean = 0;
    for (float l : losses)
      mean += l;
    mean /= losses.size();
    if (leader) {
      clearProgress();
      std::printf("step %lld loss %.6f time %.3f ms\n", (long long)step, mean,
                  ms);
      std::fflush(stdout);
    }

    if (opt.check && step == firstStep && leader) {
      // The reference over the same R x M micro-batches: once per replica's
      // slice, combined as the replicas are.
      std::vector<float> refLosses(losses.size());
      std::vector<std::vector<float>> refGrads(grads.size());
      for (size_t p = 0; p < grads.size(); ++p)
        refGrads[p].assign(grads[p].count(), 0.0f);
      for (int64_t d = 0; d < replicas; ++d) {
        std::vector<std::vector<Buffer>> refArgs = {args[d]};
        std::vector<std::vector<StepOutputs>> refOut(
            1, std::vector<StepOutputs>(1, shape));
        std::string refErr =
            runStep(reference, refArgs, refOut, opt.timeout, {});
        if (!refErr.empty())
          die("the single-rank reference failed: " + refErr);
        std::copy(refOut[0][0].losses.f32(), refOut[0][0].losses.f32() + m,
                  refLosses.begin() + d * m);
        for (size_t p = 0; p < grads.size(); ++p) {
          if (replicas == 1) {
            refGrads[p].assign(refOut[0][0].grads[p].f32(),
                               refOut[0][0].grads[p].f32() +
                                   refGrads[p].size());
            continue;
          }
          for (size_t i = 0; i < refGrads[p].size(); ++i)
            refGrads[p][i] += refOut[0][0].grads[p].f32()[i];
        }
      }
      if (replicas > 1)
        for (std::vector<float> &g : refGrads)
          for (float &v : g)
            v /= static_cast<float>(replicas);
      double lossErr = relativeError(losses.data(), refLosses);
      double gradErr = 0;
      std::string worst = "-";
      for (size_t p = 0; p < grads.size(); ++p) {
        double e = relativeError(grads[p].f32(), refGrads[p]);
        if (e >= gradErr) {
          gradErr = e;
          worst = paramNames[p];
        }
      }
      bool ok = std::isfinite(lossErr) && std::isfinite(gradErr) &&
                lossErr <= 1e-5 && gradErr <= 1e-5;
      if (replicas == 1)
        std::printf("check: %d-rank pipeline vs 1-rank reference: losses max "
                    "relative error %.3g, gradients %.3g (worst %s); "
                    "tolerance 1e-5: %s\n",
                    ranks, lossErr, gradErr, worst.c_str(),
                    ok ? "PASS" : "FAIL");
      else
        std::printf("check: %lld x %d-rank pipeline (data-parallel) vs 1-rank "
                    "reference over %lld micro-batches: losses max relative "
                    "error %.3g, gradients %.3g (worst %s); tolerance 1e-5: "
                    "%s\n",
                    (long long)replicas, ranks,
                    (long long)(replicas * microbatches), lossErr, gradErr,
                    worst.c_str(), ok ? "PASS" : "FAIL");
      std::fflush(stdout);
      if (!ok)
        status = 4;
    }
    if (last && !opt.dumpGrads.empty() && leader) {
      st::TensorFile file;
      for (size_t p = 0; p < grads.size(); ++p)
        file.tensors[paramNames[p]] =
            toTensor(grads[p]);
      if (std::string e = st::writeSafeTensors(opt.dumpGrads, file); !e.empty())
        die(e);
      std::printf("gradients written to %s\n", opt.dumpGrads.c_str());
    }
    // The update: every replica (and every process) applies the same one.
    if (optimizer) {
      // The compiled optimizer on replica 0's parameters, copied to the
      // others.
      std::vector<Buffer *> own;
      for (size_t i : paramSlots)
        own.push_back(&args[0][i]);
      optimizer.apply(own, grads, step + 1);
      for (int64_t d = 1; d < replicas; ++d)
        for (size_t i : paramSlots)
          args[d][i].copyFrom(args[0][i]);
    } else {
      // The runner's SGD.
      for (std::vector<Buffer> &replicaArgs : args)
        for (size_t p = 0; p < paramSlots.size(); ++p) {
          Buffer &b = replicaArgs[paramSlots[p]];
          for (int64_t i = 0; i < b.count(); ++i)
            b.f32()[i] -= static_cast<float>(opt.lr) * grads[p].f32()[i];
        }
    }
    if (opt.saveEvery > 0 && (step + 1) % opt.saveEvery == 0 && !last)
      saveCheckpoint(step + 1);
    if (showProgress) {
      int64_t done = step + 1 - firstStep;
      double elapsed = std::chrono::duration<double>(
                           std::chrono::steady_clock::now() - runStart)
                           .count();
      double perStep = elapsed / done;
      std::printf("[step %lld/%lld] loss %.6f | %.1f ms/step | ETA %s",
                  (long long)done, (long long)opt.steps, mean, perStep * 1e3,
                  formatDuration(perStep * (opt.steps - done)).c_str());
      std::fflush(stdout);
      progressShown = true;
    }
  }
  clearProgress();
  if (!opt.trace.empty()) {
    if (mpi) {
      std::string path = withSuffix(opt.trace, ".rank" + std::to_string(globalRank));
      if (dualpipe_world_write_trace(pipe, path.c_str()) != 0)
        std::cerr << "dualpipe-run: warning: could not write the trace to "
                  << path << "\n";
      if (leader)
        std::printf("trace written to %s (one file per process)\n",
                    withSuffix(opt.trace, ".rank*").c_str());
    } else if (replicas == 1) {
      std::printf("trace written to %s\n", opt.trace.c_str());
    } else {
      for (int64_t d = 0; d < replicas; ++d)
        std::printf("trace written to %s\n",
                    withSuffix(opt.trace, ".replica" + std::to_string(d))
                        .c_str());
    }
  }
  if (!opt.save.empty())
    saveCheckpoint(firstStep + opt.steps);
  std::fflush(stdout);
  if (mpi) {
    dualpipe_world_destroy(pipe);
    dualpipe_world_destroy(all);
    mpiJob = false;
    dualpipe_mpi_finalize();
  }
  dlclose(lib);
  return status;
}
