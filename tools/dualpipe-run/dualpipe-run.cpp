//===- dualpipe-run.cpp - run a compiled training step on N ranks --------===//
//
// The command line of the session library (dualpipe/Runtime/Session.h):
// parses the flags, opens OUTDIR (manifest.json checked, step.so verified
// and loaded), and runs the steps, printing one line per step, the --check
// line, checkpoints and a live progress line on a terminal. Everything the
// session refuses is a session::Error, printed here as
// "dualpipe-run: error: ..." with its exit status.
//
// Exit status: 0 done; 1 a failure or a refused file; 2 a usage error;
// 3 a forward step whose pipeline and reference disagree; 4 a --check that
// failed.
//
//===----------------------------------------------------------------------===//

#include "dualpipe/Runtime/Runtime.h"
#include "dualpipe/Runtime/Session.h"

#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <thread>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace {

namespace ss = dualpipe::session;

struct CommandLine {
  std::string outDir;
  ss::Options session;
  std::string dumpGrads, dumpOutputs;
  int64_t saveEvery = 0; ///< Also write --save every K steps (0: at the end).
  int32_t device = -1;   ///< --device=K; -1: not given.
  bool progress = true;  ///< The live progress line (on a terminal only).
};

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

/// Ends the process with `message`; under MPI it ends the whole job, or the
/// other processes would wait for this one.
[[noreturn]] void die(const std::string &message, int code = 1,
                      bool quiet = false) {
  clearProgress();
  if (!quiet) {
    // One write: under mpirun the pieces of several writes interleave with
    // the other processes' lines (two ranks that time out together).
    std::string line = "dualpipe-run: error: " + message + "\n";
    std::fputs(line.c_str(), stderr);
    std::fflush(stderr);
  } else {
    // Another process says it (rank 0): mpirun ends the job at the first
    // exit, so give that one time to write its line first.
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
  if (ss::inMpiJob())
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
         "  --backend=nccl         one rank per process under mpirun, one GPU "
         "each (the\n"
         "                         launcher's local rank), messages with "
         "NCCL; --target=cuda\n"
         "                         steps only\n"
         "  --device=K             the GPU of a --target=cuda step on "
         "--backend=local (all\n"
         "                         ranks share it; default 0)\n"
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
         "  --threads=K            threads per BLAS call (default: the cores\n"
         "                         divided by the ranks of this process, or\n"
         "                         OPENBLAS_NUM_THREADS / OMP_NUM_THREADS)\n"
         "  --lr=X                 learning rate, 0 to 1000: of the runner's "
         "SGD (default\n"
         "                         0.01), or overriding the compiled "
         "optimizer's\n"
         "                         (dualpipe-compile --optimizer=...; default "
         "its lr)\n"
         "  --check                also run the step on one rank without a "
         "pipeline and\n"
         "                         compare losses and gradients (relative "
         "error <= 1e-5)\n"
         "  --dump-grads=FILE      write the last step's gradients "
         "(.safetensors) and\n"
         "                         print that step's loss to 9 digits\n"
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

/// A whole decimal integer that fits int64.
bool parseInteger(const char *text, int64_t &out) {
  char *end = nullptr;
  errno = 0;
  long long v = std::strtoll(text, &end, 10);
  if (!*text || *end || errno == ERANGE)
    return false;
  out = v;
  return true;
}

/// The value of `flag` when it is one (flag=VALUE), else null.
const char *valueOf(const std::string &arg, const char *argv, const char *flag) {
  size_t n = std::strlen(flag);
  if (arg.compare(0, n, flag) == 0 && arg.size() > n && arg[n] == '=')
    return argv + n + 1;
  return nullptr;
}

/// An integer flag with a lower bound; exits 2 with `need` otherwise.
int64_t integerFlag(const char *flag, const char *v, int64_t lo,
                    const char *need) {
  int64_t out = 0;
  if (!parseInteger(v, out) || out < lo)
    die(std::string(flag) + " needs " + need + ", got '" + v + "'", 2);
  return out;
}

/// A number flag (finite, in [lo, hi]); exits 2 with `need` otherwise.
double numberFlag(const char *flag, const char *v, double lo, double hi,
                  bool open, const char *need) {
  char *end = nullptr;
  double out = std::strtod(v, &end);
  if (!*v || *end || !std::isfinite(out) || out < lo || out > hi ||
      (open && out == lo))
    die(std::string(flag) + " needs " + need + ", got '" + v + "'", 2);
  return out;
}

/// Consumes one option with a value; false if `arg` is none of them.
bool parseValue(const std::string &arg, const char *raw, CommandLine &c) {
  ss::Options &o = c.session;
  if (const char *v = valueOf(arg, raw, "--backend")) {
    o.backend = v;
  } else if (const char *v = valueOf(arg, raw, "--device")) {
    int64_t device = 0;
    if (!parseInteger(v, device) || device < 0 || device > 1024)
      die(std::string("--device needs a GPU number (0, 1, ...), got '") + v +
              "'",
          2);
    c.device = static_cast<int32_t>(device);
  } else if (const char *v = valueOf(arg, raw, "--params")) {
    o.params = v;
  } else if (const char *v = valueOf(arg, raw, "--data")) {
    o.data = v;
  } else if (const char *v = valueOf(arg, raw, "--trace")) {
    o.trace = v;
  } else if (const char *v = valueOf(arg, raw, "--dump-outputs")) {
    c.dumpOutputs = v;
  } else if (const char *v = valueOf(arg, raw, "--dump-grads")) {
    c.dumpGrads = v;
  } else if (const char *v = valueOf(arg, raw, "--save")) {
    o.save = v;
  } else if (const char *v = valueOf(arg, raw, "--resume")) {
    o.resume = v;
  } else if (const char *v = valueOf(arg, raw, "--seed")) {
    char *end = nullptr;
    errno = 0;
    o.seed = std::strtoull(v, &end, 10);
    if (!*v || *end || *v == '-' || errno == ERANGE)
      die("--seed needs a non-negative integer below 2^64, got '" +
              std::string(v) + "'",
          2);
  } else if (const char *v = valueOf(arg, raw, "--save-every")) {
    c.saveEvery = integerFlag("--save-every", v, 1, "a positive integer");
  } else if (const char *v = valueOf(arg, raw, "--threads")) {
    o.threads = integerFlag("--threads", v, 1, "a positive integer");
  } else if (const char *v = valueOf(arg, raw, "--steps")) {
    o.steps = integerFlag("--steps", v, 1, "a positive integer");
  } else if (const char *v = valueOf(arg, raw, "--dp")) {
    o.dp = integerFlag("--dp", v, 1, "a positive integer");
  } else if (const char *v = valueOf(arg, raw, "--microbatch")) {
    o.microbatch =
        integerFlag("--microbatch", v, 0, "a non-negative integer");
  } else if (const char *v = valueOf(arg, raw, "--lr")) {
    o.lr = numberFlag("--lr", v, 0, ss::kMaxLearningRate, false,
                      "a finite number from 0 to 1000 (a larger rate "
                      "overflows an f32 update at once)");
    o.lrGiven = true;
  } else if (const char *v = valueOf(arg, raw, "--timeout")) {
    o.timeout = numberFlag("--timeout", v, 0, 365.0 * 24 * 3600, true,
                           "a positive number of seconds (at most a year)");
  } else {
    return false;
  }
  return true;
}

/// The backend must be built; exits 2 otherwise.
void checkBackend(const std::string &backend) {
  if (backend == "mpi" && !dualpipe_rt_has_backend("mpi"))
    die("backend 'mpi' was not built: CMake did not find MPI when the runtime "
        "was built (install libopenmpi-dev and reconfigure); use "
        "--backend=local (ranks as threads)",
        2);
  if (backend == "nccl" && !dualpipe_rt_has_backend("nccl"))
    die("backend 'nccl' was not built: CMake needs CUDA, NCCL and MPI when "
        "the runtime is built; use --backend=local or --backend=mpi",
        2);
  if (backend != "local" && backend != "mpi" && backend != "nccl")
    die("backend '" + backend +
            "' is not built yet; use --backend=local (ranks as threads)",
        2);
}

CommandLine parseArgs(int argc, char **argv) {
  CommandLine c;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      usage();
      std::exit(0);
    } else if (parseValue(a, argv[i], c)) {
    } else if (a == "--no-progress") {
      c.progress = false;
    } else if (a == "--check") {
      c.session.check = true;
    } else if (!a.empty() && a[0] == '-') {
      die("unknown option '" + a + "'; see --help", 2);
    } else if (c.outDir.empty()) {
      c.outDir = a;
    } else {
      die("unexpected argument '" + a + "'; give one OUTDIR", 2);
    }
  }
  if (c.outDir.empty())
    die("no OUTDIR: give the folder dualpipe-compile wrote", 2);
  if (c.saveEvery > 0 && c.session.save.empty())
    die("--save-every needs --save=FILE (the checkpoint it rewrites)", 2);
  checkBackend(c.session.backend);
  c.session.warn = [](const std::string &message) {
    clearProgress();
    std::fputs(("dualpipe-run: warning: " + message + "\n").c_str(), stderr);
  };
  return c;
}

//--- The forward-only skeleton ---------------------------------------------------//

std::string preview(const std::vector<float> &values) {
  std::ostringstream os;
  os.precision(6);
  os << "[";
  size_t n = std::min<size_t>(values.size(), 4);
  for (size_t i = 0; i < n; ++i)
    os << (i ? ", " : "") << double(values[i]);
  os << (values.size() > n ? ", ...]" : "]");
  double sum = 0;
  for (float v : values)
    sum += v;
  os << "  sum " << sum;
  return os.str();
}

std::string shapeText(const std::vector<int64_t> &shape) {
  std::string s;
  for (size_t i = 0; i < shape.size(); ++i)
    s += (i ? "x" : "") + std::to_string(shape[i]);
  return s.empty() ? "scalar" : s;
}

int runForward(const CommandLine &c, const ss::StepLibrary &step) {
  const ss::Manifest &m = step.manifest();
  std::cout << "dualpipe-run: " << m.model << ", " << m.stages
            << " stages on " << m.ranks << " ranks (placement " << m.placement
            << ", schedule " << m.schedule << "), backend "
            << c.session.backend << std::endl;
  std::string trace;
  ss::ForwardResult r;
  try {
    r = ss::runForward(step, c.session, c.dumpOutputs, trace);
  } catch (const ss::Error &) {
    if (!trace.empty())
      std::cout << "trace written to " << trace << std::endl;
    throw;
  }
  if (!trace.empty())
    std::cout << "trace written to " << trace << "\n";
  for (size_t o = 0; o < r.outputs.size(); ++o) {
    const ss::ForwardResult::Output &out = r.outputs[o];
    std::printf("pipeline  (%d ranks): output %zu [%s] = %s  (%.3f ms)\n",
                int(m.ranks), o, shapeText(out.shape).c_str(),
                preview(out.pipeline).c_str(), r.pipelineMs);
    std::printf("reference (1 rank):  output %zu [%s] = %s  (%.3f ms)\n", o,
                shapeText(out.shape).c_str(), preview(out.reference).c_str(),
                r.referenceMs);
  }
  std::printf("max |pipeline - reference| = %.3g (relative %.3g) over %zu "
              "values: the %d-rank and 1-rank results %s\n",
              r.maxDiff, r.relative, r.compared, int(m.ranks),
              r.agree ? "agree" : "DISAGREE");
  return r.agree ? 0 : 3;
}

//--- Training ----------------------------------------------------------------------//

void printHeader(const ss::TrainingSession &s, const CommandLine &c) {
  const ss::Manifest &m = s.manifest();
  int64_t replicas = c.session.dp;
  std::cout << "dualpipe-run: " << m.schedule << " on " << m.ranks
            << " ranks, " << m.stages << " stages (" << m.placement << "), "
            << m.microbatches << " micro-batches per step, backend "
            << c.session.backend;
  if (replicas > 1)
    std::cout << ", " << replicas << " data-parallel replicas ("
              << m.ranks * replicas << " ranks in all)";
  if (s.blasThreads() > 0)
    std::cout << ", " << s.blasThreads() << " BLAS thread"
              << (s.blasThreads() == 1 ? "" : "s") << " per rank ("
              << s.blasThreadsSource() << ")";
  std::cout << "\n";
  if (s.compiledOptimizer())
    std::cout << "optimizer: " << s.optimizerKind() << " (compiled, "
              << s.optimizerEntryPoint() << "), lr " << s.optimizerLr()
              << ", " << s.stateTensors() << " state tensors\n";
  std::cout << std::flush;
}

void printCheck(const ss::CheckResult &r, const ss::Manifest &m,
                int64_t replicas) {
  if (replicas == 1)
    std::printf("check: %d-rank pipeline vs 1-rank reference: losses max "
                "relative error %.3g, gradients %.3g (worst %s); "
                "tolerance 1e-5: %s\n",
                int(m.ranks), r.lossError, r.gradError, r.worst.c_str(),
                r.pass ? "PASS" : "FAIL");
  else
    std::printf("check: %lld x %d-rank pipeline (data-parallel) vs 1-rank "
                "reference over %lld micro-batches: losses max relative "
                "error %.3g, gradients %.3g (worst %s); tolerance 1e-5: "
                "%s\n",
                (long long)replicas, int(m.ranks),
                (long long)(replicas * m.microbatches), r.lossError,
                r.gradError, r.worst.c_str(), r.pass ? "PASS" : "FAIL");
  std::fflush(stdout);
}

void save(ss::TrainingSession &s, const std::string &path, int64_t done) {
  s.saveCheckpoint(path, done); // collective under mpi
  if (!s.leader())
    return;
  clearProgress();
  std::printf("checkpoint written to %s (step %lld)\n", path.c_str(),
              (long long)done);
  std::fflush(stdout);
}

/// The live line under the step lines: step k/K, loss, mean wall time per
/// step (the step, combining, the update, any check or checkpoint), ETA.
void drawProgress(int64_t done, int64_t steps, double loss,
                  std::chrono::steady_clock::time_point start) {
  double elapsed = std::chrono::duration<double>(
                       std::chrono::steady_clock::now() - start)
                       .count();
  double perStep = elapsed / done;
  std::printf("[step %lld/%lld] loss %.6f | %.1f ms/step | ETA %s",
              (long long)done, (long long)steps, loss, perStep * 1e3,
              formatDuration(perStep * (steps - done)).c_str());
  std::fflush(stdout);
  progressShown = true;
}

/// "12.5%" of `part` in `whole` (0 of 0 is all of it: nothing to hide).
std::string percentOf(double part, double whole) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f%%",
                whole > 0 ? 100.0 * part / whole : 100.0);
  return text;
}

/// The communication the run's computation hid: a line per rank, then the
/// totals as `transfers: <T> ms in flight, <H>% hidden under compute` and
/// `all-reduce: <T> ms, <H>% hidden under compute` (scripts read those two;
/// the per-rank lines do not start with either).
void printComm(const std::vector<ss::CommFigures> &ranks) {
  if (ranks.size() < 2)
    return;
  ss::CommFigures total;
  for (size_t r = 0; r < ranks.size(); ++r) {
    const ss::CommFigures &f = ranks[r];
    total += f;
    if (f.messages)
      std::printf("transfers on rank %zu: %.3f ms in flight over %lld "
                  "messages, %s hidden under compute",
                  r, f.transferMs, (long long)f.messages,
                  percentOf(f.transferHiddenMs, f.transferMs).c_str());
    else
      std::printf("transfers on rank %zu: no timed messages", r);
    if (f.allReduces)
      std::printf("; all-reduce %.3f ms, %s hidden", f.allReduceMs,
                  percentOf(f.allReduceHiddenMs, f.allReduceMs).c_str());
    std::printf("\n");
  }
  if (total.messages)
    std::printf("transfers: %.3f ms in flight, %s hidden under compute\n",
                total.transferMs,
                percentOf(total.transferHiddenMs, total.transferMs).c_str());
  else
    std::printf("transfers: none timed (blocking receives only)\n");
  if (total.allReduces)
    std::printf("all-reduce: %.3f ms, %s hidden under compute\n",
                total.allReduceMs,
                percentOf(total.allReduceHiddenMs, total.allReduceMs).c_str());
}

/// "1.25 MiB" (or "12.5 KiB", "512 B").
std::string bytesText(int64_t bytes) {
  char text[32];
  if (bytes < 1024)
    std::snprintf(text, sizeof text, "%lld B", (long long)bytes);
  else if (bytes < (1 << 20))
    std::snprintf(text, sizeof text, "%.1f KiB", double(bytes) / 1024);
  else
    std::snprintf(text, sizeof text, "%.2f MiB", double(bytes) / (1 << 20));
  return text;
}

/// Per rank, what its step's buffers took at their peak from the step heap
/// (runtime/src/StepAlloc.cpp) beside the memory plan's prediction
/// (manifest peak_memory_bytes): `memory on rank <r>: step buffers <X> at
/// peak (memory plan: <Y>)`. Parameters, gradients and inputs are the
/// runner's and in neither figure.
void printMemory(const std::vector<ss::CommFigures> &ranks,
                 const ss::Manifest &m) {
  for (size_t r = 0; r < ranks.size(); ++r) {
    if (!ranks[r].heapPeakBytes)
      continue;
    std::printf("memory on rank %zu: step buffers %s at peak", r,
                bytesText(ranks[r].heapPeakBytes).c_str());
    if (r < m.peakMemoryBytes.size())
      std::printf(" (memory plan: %s)",
                  bytesText(m.peakMemoryBytes[r]).c_str());
    std::printf("\n");
  }
}

int runTraining(const CommandLine &c, std::unique_ptr<ss::StepLibrary> step) {
  ss::TrainingSession s(std::move(step), c.session);
  const int64_t replicas = c.session.dp;
  const int64_t first = s.firstStep(), steps = c.session.steps;
  if (s.leader())
    printHeader(s, c);
  // Not under mpirun: it gives every process a pseudo-terminal whatever its
  // own output is, and forwards the redraws into it.
  const bool showProgress =
      s.leader() && !s.mpi() && c.progress && isatty(STDOUT_FILENO);
  const auto runStart = std::chrono::steady_clock::now();
  int status = 0;
  for (int64_t k = first; k < first + steps; ++k) {
    bool last = k + 1 == first + steps;
    ss::StepResult r = s.run(k, last && !c.session.trace.empty());
    // The check and the gradient dump read this step's gradients and the
    // parameters before the update; they are not part of the step's time.
    // Both are collective under mpi (each process holds its rank's
    // gradients); the leader reports.
    std::optional<ss::CheckResult> check;
    if (c.session.check && k == first && (s.leader() || s.mpi()))
      check = s.check();
    if (!s.leader())
      check.reset();
    if (last && !c.dumpGrads.empty() && (s.leader() || s.mpi()))
      s.dumpGradients(c.dumpGrads);
    // The printed time is the whole step: the ranks' programs, combining
    // their outputs and the optimizer's update.
    auto updateStart = std::chrono::steady_clock::now();
    s.update(k);
    double stepMs = r.milliseconds +
                    std::chrono::duration<double, std::milli>(
                        std::chrono::steady_clock::now() - updateStart)
                        .count();
    if (s.leader()) {
      clearProgress();
      std::printf("step %lld loss %.6f time %.3f ms\n", (long long)k, r.loss,
                  stepMs);
      std::fflush(stdout);
    }
    if (check) {
      printCheck(*check, s.manifest(), replicas);
      status = check->pass ? status : 4;
    }
    if (last && !c.dumpGrads.empty() && s.leader()) {
      std::printf("gradients written to %s\n", c.dumpGrads.c_str());
      // The step line's 6 decimals are too coarse to compare a float32
      // loss with a reference (issue #15): all of its digits, with the
      // gradients they belong to.
      std::printf("loss of the dumped step %.9e\n", r.loss);
    }
    if (c.saveEvery > 0 && (k + 1) % c.saveEvery == 0 && !last)
      save(s, c.session.save, k + 1);
    if (showProgress)
      drawProgress(k + 1 - first, steps, r.loss, runStart);
  }
  clearProgress();
  std::vector<ss::CommFigures> comm = s.commFigures();
  if (s.leader()) {
    printComm(comm);
    printMemory(comm, s.manifest());
  }
  ss::TraceFiles traces = s.finishTrace();
  if (s.leader())
    for (const std::string &path : traces.paths)
      std::printf("trace written to %s%s\n", path.c_str(),
                  traces.perProcess ? " (one file per process)" : "");
  if (!c.session.save.empty())
    save(s, c.session.save, first + steps);
  std::fflush(stdout);
  s.close();
  return status;
}

} // namespace

int main(int argc, char **argv) {
  CommandLine c = parseArgs(argc, argv);
  try {
    ss::Manifest m = ss::readManifest(c.outDir);
    ss::startDevice(m, c.session.backend, c.device);
    if (!m.training() && (c.session.backend != "local" || c.session.dp != 1))
      die(c.outDir + " holds a forward-only step: --backend=" +
              c.session.backend +
              " and --dp run training steps (dualpipe-compile "
              "--schedule=...); run it with --backend=local and no --dp",
          2);
    std::unique_ptr<ss::StepLibrary> step =
        ss::StepLibrary::load(c.outDir, std::move(m));
    if (!step->manifest().training())
      return runForward(c, *step);
    return runTraining(c, std::move(step));
  } catch (const ss::Error &e) {
    die(e.what(), e.exitCode(), e.quiet());
  } catch (const std::exception &e) {
    die(std::string("internal error: ") + e.what());
  }
}
