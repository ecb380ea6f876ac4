//===- main.cpp - dualpipe-sched: generate, validate, simulate, draw ------===//
//
// A thin command-line user of lib/Schedule. Exit codes: 0 success, 1 an
// invalid schedule (configuration rule, malformed CSV, validation error),
// 2 a bad flag or value.
//
//===----------------------------------------------------------------------===//

#include "dualpipe/Schedule/Analysis.h"
#include "dualpipe/Schedule/Generators.h"
#include "dualpipe/Schedule/Render.h"
#include "dualpipe/Schedule/Simulator.h"
#include "dualpipe/Schedule/TextForm.h"
#include "dualpipe/Schedule/Validator.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

using namespace dualpipe::sched;

namespace {

const char *kUsage = R"(usage: dualpipe-sched [options]

Generate, validate, simulate, draw and compare pipeline schedules
(docs/schedules/contract.md).

Schedule:
  --schedule=NAME         gpipe, 1f1b, interleaved (interleaved-1f1b), zb1p (zbh1),
                          zbv, dualpipe, dualpipev, auto
  --ranks=N               ranks in the pipeline group
  --microbatches=M        micro-batches per step (auto: optional, free if omitted)
  --chunks=V              chunks per rank for interleaved 1F1B (default 2)
  --input=FILE.csv        read a schedule (one line per rank, PyTorch's action
                          grammar) instead of generating one; --schedule=NAME
                          then names its placement (default: inferred)

Cost model (per stage and micro-batch; auto: per N-way stage):
  --cost=F=1,B=2,W=1,FB=3 forward, full backward, weight part of the backward
                          (I costs B-W), overlapped F&B pair
  --latency=T             link latency per message (default 0)
  --bandwidth=X           link bandwidth in bytes per time unit (default infinite)
  --message-bytes=X       bytes of every activation / gradient message (default 0)
  --activation-bytes=X    bytes of one micro-batch's saved activations per stage,
                          for peak activation bytes (and the auto budget)
  --memory-budget=X       auto: per-rank activation budget, in bytes with
                          --activation-bytes, else in micro-batches of an N-way stage
  --max-microbatches=M    auto with free M: largest M tried (default 4N)

Output:
  --emit=KIND             csv (exactly the schedule CSV), table (default), svg,
                          trace (Chrome trace JSON, opens in Perfetto), summary (JSON)
  --output=FILE           write the output to FILE instead of stdout
  --compare               for --ranks and --microbatches, every schedule's simulated
                          bubble and memory beside the closed forms of
                          docs/schedules/contract.md
  --help                  this text

Exit codes: 0 ok, 1 invalid schedule or configuration, 2 bad flag or value.
)";

[[noreturn]] void usageError(const std::string &msg) {
  std::fprintf(stderr, "dualpipe-sched: error: %s\n", msg.c_str());
  std::exit(2);
}

[[noreturn]] void scheduleError(const std::string &msg) {
  std::fprintf(stderr, "dualpipe-sched: error: %s\n", msg.c_str());
  std::exit(1);
}

int parseInt(const std::string &flag, const std::string &v, int min) {
  errno = 0;
  char *end = nullptr;
  long x = std::strtol(v.c_str(), &end, 10);
  if (v.empty() || *end != '\0' || errno != 0 || x < min || x > 1000000)
    usageError(flag + " expects an integer >= " + std::to_string(min) + ", got '" + v +
               "'");
  return static_cast<int>(x);
}

double parseDouble(const std::string &flag, const std::string &v, double min) {
  errno = 0;
  char *end = nullptr;
  double x = std::strtod(v.c_str(), &end);
  if (v.empty() || *end != '\0' || errno != 0 || !std::isfinite(x) || x < min)
    usageError(flag + " expects a number >= " + formatNumber(min) + ", got '" + v + "'");
  return x;
}

void parseCost(const std::string &v, CostModel &cost) {
  std::stringstream ss(v);
  std::string item;
  while (std::getline(ss, item, ',')) {
    size_t eq = item.find('=');
    if (eq == std::string::npos)
      usageError("--cost expects KEY=VALUE pairs with KEY one of F, B, W, FB "
                 "(e.g. F=1,B=2,W=1,FB=3), got '" + item + "'");
    std::string key = item.substr(0, eq), val = item.substr(eq + 1);
    double x = parseDouble("--cost " + key, val, 0);
    if (key == "F")
      cost.uniform.f = x;
    else if (key == "B")
      cost.uniform.b = x;
    else if (key == "W")
      cost.uniform.w = x;
    else if (key == "FB" || key == "F&B")
      cost.fb = x;
    else
      usageError("--cost: unknown key '" + key + "'; accepted keys are F, B, W, FB");
  }
  if (cost.uniform.w > cost.uniform.b)
    usageError("--cost: W (" + formatNumber(cost.uniform.w) +
               ") must not exceed B (" + formatNumber(cost.uniform.b) +
               "), since I costs B-W");
}

struct Options {
  std::string schedule;
  int ranks = 0;
  std::optional<int> microbatches;
  int chunks = 2;
  bool chunksGiven = false;
  std::string input;
  CostModel cost;
  double messageBytes = 0;
  double activationBytes = 0;
  double memoryBudget = 0;
  int maxMicrobatches = 0;
  std::string emit = "table";
  std::string output;
  bool compare = false;
};

Options parseArgs(int argc, char **argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    }
    if (arg == "--compare") {
      o.compare = true;
      continue;
    }
    size_t eq = arg.find('=');
    if (arg.rfind("--", 0) != 0 || eq == std::string::npos)
      usageError("unknown argument '" + arg + "'; flags take the form --flag=value "
                 "(see --help)");
    std::string flag = arg.substr(0, eq), v = arg.substr(eq + 1);
    if (flag == "--schedule") {
      if (v != "auto" && !parseScheduleName(v))
        usageError("--schedule expects one of gpipe, 1f1b, interleaved, "
                   "interleaved-1f1b, zb1p, zbh1, zbv, dualpipe, dualpipev, auto; got '" +
                   v + "'");
      o.schedule = v;
    } else if (flag == "--ranks") {
      o.ranks = parseInt(flag, v, 1);
    } else if (flag == "--microbatches") {
      o.microbatches = parseInt(flag, v, 1);
    } else if (flag == "--chunks") {
      o.chunks = parseInt(flag, v, 1);
      o.chunksGiven = true;
    } else if (flag == "--input") {
      o.input = v;
    } else if (flag == "--cost") {
      parseCost(v, o.cost);
    } else if (flag == "--latency") {
      o.cost.linkLatency = parseDouble(flag, v, 0);
    } else if (flag == "--bandwidth") {
      o.cost.linkBandwidth = parseDouble(flag, v, 0);
    } else if (flag == "--message-bytes") {
      o.messageBytes = parseDouble(flag, v, 0);
    } else if (flag == "--activation-bytes") {
      o.activationBytes = parseDouble(flag, v, 0);
    } else if (flag == "--memory-budget") {
      o.memoryBudget = parseDouble(flag, v, 0);
    } else if (flag == "--max-microbatches") {
      o.maxMicrobatches = parseInt(flag, v, 1);
    } else if (flag == "--emit") {
      if (v != "csv" && v != "table" && v != "svg" && v != "trace" && v != "summary")
        usageError("--emit expects one of csv, table, svg, trace, summary; got '" + v + "'");
      o.emit = v;
    } else if (flag == "--output") {
      o.output = v;
    } else {
      usageError("unknown flag '" + flag + "' (see --help)");
    }
  }
  return o;
}

/// Fills the per-stage byte vectors once the stage count is known.
void applyBytes(const Options &o, int numStages, CostModel &cost) {
  if (o.messageBytes > 0) {
    cost.activationMessageBytes.assign(numStages, o.messageBytes);
    cost.gradientMessageBytes.assign(numStages, o.messageBytes);
  }
  if (o.activationBytes > 0)
    cost.activationBytes.assign(numStages, o.activationBytes);
}

void writeOut(const Options &o, const std::string &text) {
  if (o.output.empty()) {
    std::fwrite(text.data(), 1, text.size(), stdout);
    return;
  }
  std::ofstream f(o.output, std::ios::binary);
  if (!f)
    usageError("--output: cannot write '" + o.output + "'");
  f << text;
}

int emit(const Options &o, const Schedule &s, const CostModel &cost,
         const std::string &preamble) {
  if (o.emit == "csv") {
    writeOut(o, toCSV(s));
    return 0;
  }
  Expected<SimulationResult> sim = simulate(s, cost);
  if (!sim)
    scheduleError(sim.error().message);
  if (o.emit == "table")
    writeOut(o, preamble + toTable(s, *sim));
  else if (o.emit == "svg")
    writeOut(o, toSVG(s, *sim, cost));
  else if (o.emit == "trace")
    writeOut(o, toChromeTrace(s, *sim));
  else
    writeOut(o, toSummaryJSON(s, *sim));
  return 0;
}

std::string readFile(const std::string &path) {
  std::ifstream f(path, std::ios::binary);
  if (!f)
    usageError("--input: cannot read '" + path + "'");
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

} // namespace

int main(int argc, char **argv) {
  Options o = parseArgs(argc, argv);

  if (o.compare) {
    if (o.ranks < 1 || !o.microbatches)
      usageError("--compare needs --ranks=N and --microbatches=M");
    CostModel cost = o.cost;
    std::vector<ComparisonRow> rows = compareAll(o.ranks, *o.microbatches, cost, o.chunks);
    writeOut(o, formatComparison(o.ranks, *o.microbatches, cost, rows));
    return 0;
  }

  if (!o.input.empty()) {
    if (o.schedule == "auto")
      usageError("--schedule=auto cannot be combined with --input; name the file's "
                 "schedule or leave --schedule out to infer the placement");
    ParseOptions po;
    if (!o.schedule.empty())
      po.kind = parseScheduleName(o.schedule);
    po.numMicrobatches = o.microbatches.value_or(0);
    po.chunks = o.chunksGiven ? o.chunks : 0;
    Expected<Schedule> s = parseCSV(readFile(o.input), po);
    if (!s)
      scheduleError(o.input + ": " + s.error().message);
    if (o.ranks > 0 && o.ranks != s->numRanks)
      scheduleError(o.input + ": --ranks=" + std::to_string(o.ranks) + " but the file has " +
                    std::to_string(s->numRanks) + " lines (one per rank)");
    ValidationReport rep = validate(*s);
    if (!rep.ok()) {
      std::fprintf(stderr, "dualpipe-sched: error: %s: the schedule is invalid:\n%s",
                   o.input.c_str(), rep.str(*s).c_str());
      return 1;
    }
    CostModel cost = o.cost;
    applyBytes(o, s->numStages, cost);
    return emit(o, *s, cost, "");
  }

  if (o.schedule.empty())
    usageError("--schedule=NAME is required (or --input=FILE.csv, or --compare)");
  if (o.ranks < 1)
    usageError("--ranks=N is required");

  if (o.schedule == "auto") {
    AutoRequest req;
    req.numRanks = o.ranks;
    req.numMicrobatches = o.microbatches;
    req.maxMicrobatches = o.maxMicrobatches;
    req.chunks = o.chunks;
    req.cost = o.cost;
    applyBytes(o, o.ranks, req.cost);
    req.memoryBudget = o.memoryBudget;
    Expected<AutoChoice> choice = chooseAuto(req);
    if (!choice)
      scheduleError(choice.error().message);
    CostModel cost = scaleCostsForSchedule(req.cost, choice->kind, o.ranks, o.chunks);
    if (o.emit == "table")
      return emit(o, choice->schedule, cost, choice->explanation + "\n");
    std::fputs(choice->explanation.c_str(), stderr);
    return emit(o, choice->schedule, cost, "");
  }

  if (!o.microbatches)
    usageError("--microbatches=M is required for --schedule=" + o.schedule +
               " (only auto can choose it)");
  ScheduleConfig cfg{*parseScheduleName(o.schedule), o.ranks, *o.microbatches, o.chunks};
  Expected<Schedule> s = generate(cfg);
  if (!s)
    scheduleError(s.error().message);
  ValidationReport rep = validate(*s);
  if (!rep.ok()) {
    std::fprintf(stderr, "dualpipe-sched: internal error: the generated schedule is "
                         "invalid:\n%s", rep.str(*s).c_str());
    return 1;
  }
  CostModel cost = o.cost;
  applyBytes(o, s->numStages, cost);
  return emit(o, *s, cost, "");
}
