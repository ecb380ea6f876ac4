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

#include "dualpipe/Runtime/SystemMemory.h"

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
                          zbv, dualpipe, dualpipev, loopedbfs, interleaved-zb,
                          vhalf (v-half), vmin (v-min), auto
  --ranks=N               ranks in the pipeline group
  --microbatches=M        micro-batches per step (auto: optional, free if omitted)
  --chunks=V              chunks per rank for interleaved, loopedbfs and
                          interleaved-zb (default 2)
  --input=FILE.csv        read a schedule (one line per rank, PyTorch's action
                          grammar, compute-only or compute+comms) instead of
                          generating one; --schedule=NAME then names its
                          placement (default: inferred)

Cost model (per stage and micro-batch; auto: per N-way stage):
  --cost=F=1,B=2,W=1,FB=3 forward, full backward, weight part of the backward,
                          overlapped F&B pair; I=X gives the input-gradient
                          backward on its own (default B-W). A key takes one
                          value for every stage or one per stage, stage 0
                          first: --cost=F=1,2,1,1,B=2,4,2,2 (values after a
                          key belong to it until the next KEY=)
  --pair-cost=S:T=X,...   measured F&B of the pair (F of stage S; B of stage T)
  --latency=T             link latency per message (default 0)
  --bandwidth=X           link bandwidth in bytes per time unit (default infinite)
  --message-bytes=X,...   bytes of each activation and gradient message a stage
                          sends, one value or one per stage (default 0)
  --activation-bytes=X,...  bytes of one micro-batch's saved activations per
                          stage (one value or one per stage): peak activation bytes
  --parameter-bytes=X,... bytes of each stage's parameters, gradients and
                          optimizer state (one value or one per stage)
  --memory-budget=BYTES   auto: per-rank memory budget; in bytes (parameters plus
                          peak activations) with --activation-bytes or
                          --parameter-bytes, else in activations of an N-way stage
  --max-microbatches=M    auto with free M: largest M tried (default 4N)

Communication (validation; docs/schedules/README.md, "Comm models"):
  --comm-model=MODEL      posted (default: sends never wait, receives are posted
                          and awaited before their consumer; the CPU transports,
                          torch's runtime) or blocking-groups (NCCL groups)
  --receive-posting=P     early (default: as early as the receive buffers allow)
                          or two-ahead (two receiving actions ahead)
  --receive-buffers=K     early posting: receive buffers per link (default 2,
                          0 = unlimited)
  --comms=KIND            with --emit=csv: none (default; a file read with comms
                          keeps them), pytorch (UNSHARD/RESHARD, REDUCE_GRAD and
                          SEND/RECV placed as torch's lowering places them), or
                          planned (SEND/RECV where the receive posting puts them)

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

/// A comma-separated list of numbers >= 0.
std::vector<double> parseList(const std::string &flag, const std::string &v) {
  std::vector<double> out;
  std::stringstream ss(v);
  std::string item;
  while (std::getline(ss, item, ','))
    out.push_back(parseDouble(flag, item, 0));
  if (out.empty())
    usageError(flag + " expects a number or one per stage, got '" + v + "'");
  return out;
}

/// --cost: KEY=V[,V...] items; a value without a key continues the list of
/// the key before it.
struct CostLists {
  std::vector<double> f, b, w, i;
  std::optional<double> fb;
};

void parseCost(const std::string &v, CostLists &lists) {
  std::stringstream ss(v);
  std::string item;
  std::vector<double> *current = nullptr;
  std::string currentKey;
  while (std::getline(ss, item, ',')) {
    size_t eq = item.find('=');
    std::string key, val = item;
    if (eq != std::string::npos) {
      key = item.substr(0, eq);
      val = item.substr(eq + 1);
      if (key == "F")
        current = &lists.f;
      else if (key == "B")
        current = &lists.b;
      else if (key == "W")
        current = &lists.w;
      else if (key == "I")
        current = &lists.i;
      else if (key == "FB" || key == "F&B")
        current = nullptr;
      else
        usageError("--cost: unknown key '" + key + "'; accepted keys are F, B, W, I, FB");
      currentKey = key;
      if (current)
        current->clear();
    } else if (currentKey.empty()) {
      usageError("--cost expects KEY=VALUE pairs with KEY one of F, B, W, I, FB "
                 "(e.g. F=1,B=2,W=1,FB=3), got '" + item + "'");
    } else if (!current) {
      usageError("--cost: FB takes one value (the overlapped pair at the uniform "
                 "costs); give measured pairs with --pair-cost=S:T=X");
    }
    double x = parseDouble("--cost " + currentKey, val, 0);
    if (current)
      current->push_back(x);
    else
      lists.fb = x;
  }
}

/// Expands one-or-per-stage values to `stages` entries; fails naming the
/// flag when a list has another length.
std::vector<double> perStage(const std::string &what, const std::vector<double> &v,
                             int stages, const std::string &forWhat) {
  if (v.size() <= 1)
    return v;
  if (static_cast<int>(v.size()) != stages)
    usageError(what + " lists " + std::to_string(v.size()) + " values, but " + forWhat +
               " has " + std::to_string(stages) +
               " stages; give one value for every stage or one per stage, stage 0 first");
  return v;
}

struct Options {
  std::string schedule;
  int ranks = 0;
  std::optional<int> microbatches;
  int chunks = 2;
  bool chunksGiven = false;
  std::string input;
  CostModel cost;
  CostLists costLists;
  std::vector<PairCost> pairCosts;
  std::vector<double> messageBytes, activationBytes, parameterBytes;
  double memoryBudget = 0;
  ValidateOptions validation;
  std::string comms = "none";
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
                   "interleaved-1f1b, zb1p, zbh1, zbv, dualpipe, dualpipev, loopedbfs, "
                   "interleaved-zb, vhalf, vmin, auto; got '" + v + "'");
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
      parseCost(v, o.costLists);
    } else if (flag == "--pair-cost") {
      std::stringstream ss(v);
      std::string item;
      while (std::getline(ss, item, ',')) {
        size_t colon = item.find(':'), eq = item.find('=');
        if (colon == std::string::npos || eq == std::string::npos || eq < colon)
          usageError("--pair-cost expects S:T=X items (F of stage S with B of stage T "
                     "costs X), got '" + item + "'");
        o.pairCosts.push_back({parseInt("--pair-cost stage", item.substr(0, colon), 0),
                               parseInt("--pair-cost stage",
                                        item.substr(colon + 1, eq - colon - 1), 0),
                               parseDouble("--pair-cost", item.substr(eq + 1), 0)});
      }
    } else if (flag == "--comm-model") {
      if (v == "posted")
        o.validation.model = CommModel::Posted;
      else if (v == "blocking-groups")
        o.validation.model = CommModel::BlockingGroups;
      else
        usageError("--comm-model expects posted or blocking-groups; got '" + v + "'");
    } else if (flag == "--receive-posting") {
      if (v == "early")
        o.validation.posting.policy = ReceivePosting::Early;
      else if (v == "two-ahead")
        o.validation.posting.policy = ReceivePosting::TwoAhead;
      else
        usageError("--receive-posting expects early or two-ahead; got '" + v + "'");
    } else if (flag == "--receive-buffers") {
      o.validation.posting.buffersPerLink = parseInt(flag, v, 0);
    } else if (flag == "--comms") {
      if (v != "none" && v != "pytorch" && v != "planned")
        usageError("--comms expects none, pytorch or planned; got '" + v + "'");
      o.comms = v;
    } else if (flag == "--latency") {
      o.cost.linkLatency = parseDouble(flag, v, 0);
    } else if (flag == "--bandwidth") {
      o.cost.linkBandwidth = parseDouble(flag, v, 0);
      // 0 is the cost model's "infinite"; a link of no bandwidth never
      // delivers, so refuse it rather than simulate it as instant.
      if (o.cost.linkBandwidth <= 0)
        usageError("--bandwidth needs a positive number of bytes per time "
                   "unit, got '" + v + "' (a link of bandwidth 0 never delivers); "
                   "leave --bandwidth out for an infinitely fast link");
    } else if (flag == "--message-bytes") {
      o.messageBytes = parseList(flag, v);
    } else if (flag == "--activation-bytes") {
      o.activationBytes = parseList(flag, v);
    } else if (flag == "--parameter-bytes") {
      o.parameterBytes = parseList(flag, v);
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

/// The cost model for a schedule of `stages` stages (`forWhat` names it in
/// errors): per-stage lists expanded, bytes filled.
CostModel costFor(const Options &o, int stages, const std::string &forWhat) {
  CostModel cost = o.cost;
  const CostLists &l = o.costLists;
  auto f = perStage("--cost F", l.f, stages, forWhat);
  auto b = perStage("--cost B", l.b, stages, forWhat);
  auto w = perStage("--cost W", l.w, stages, forWhat);
  auto i = perStage("--cost I", l.i, stages, forWhat);
  if (f.size() == 1)
    cost.uniform.f = f[0];
  if (b.size() == 1)
    cost.uniform.b = b[0];
  if (w.size() == 1)
    cost.uniform.w = w[0];
  if (i.size() == 1)
    cost.uniform.i = i[0];
  if (l.fb)
    cost.fb = *l.fb;
  if (f.size() > 1 || b.size() > 1 || w.size() > 1 || i.size() > 1) {
    cost.perStage.assign(stages, cost.uniform);
    for (int s = 0; s < stages; ++s) {
      if (f.size() > 1)
        cost.perStage[s].f = f[s];
      if (b.size() > 1)
        cost.perStage[s].b = b[s];
      if (w.size() > 1)
        cost.perStage[s].w = w[s];
      if (i.size() > 1)
        cost.perStage[s].i = i[s];
    }
  }
  std::vector<StageCost> check = cost.perStage.empty() ? std::vector<StageCost>{cost.uniform}
                                                       : cost.perStage;
  for (size_t s = 0; s < check.size(); ++s)
    if (check[s].w > check[s].b)
      usageError("--cost: W (" + formatNumber(check[s].w) + ") must not exceed B (" +
                 formatNumber(check[s].b) + ")" +
                 (check.size() > 1 ? " on stage " + std::to_string(s) : std::string()) +
                 ", since B includes the weight work");
  cost.pairCosts = o.pairCosts;
  for (const PairCost &p : cost.pairCosts)
    if (p.fStage >= stages || p.bStage >= stages)
      usageError("--pair-cost names stage " + std::to_string(std::max(p.fStage, p.bStage)) +
                 ", but " + forWhat + " has " + std::to_string(stages) + " stages");
  auto fill = [&](const char *flag, const std::vector<double> &v, std::vector<double> &out) {
    std::vector<double> per = perStage(flag, v, stages, forWhat);
    if (per.size() == 1)
      out.assign(stages, per[0]);
    else
      out = per;
  };
  fill("--message-bytes", o.messageBytes, cost.activationMessageBytes);
  fill("--message-bytes", o.messageBytes, cost.gradientMessageBytes);
  fill("--activation-bytes", o.activationBytes, cost.activationBytes);
  fill("--parameter-bytes", o.parameterBytes, cost.parameterBytes);
  return cost;
}

std::string describe(const Schedule &s) {
  return std::string(scheduleName(s.kind)) + " on " + std::to_string(s.numRanks) + " ranks";
}

/// The schedule with the non-compute actions --comms asks for.
Schedule withComms(const Options &o, const Schedule &s) {
  if (o.comms == "pytorch") {
    if (s.hasComms())
      usageError("--comms=pytorch: the schedule already has non-compute actions");
    Expected<Schedule> lowered = withPyTorchComms(s);
    if (!lowered)
      scheduleError(lowered.error().message);
    return *lowered;
  }
  if (o.comms == "planned") {
    if (s.hasComms())
      usageError("--comms=planned: the schedule already has non-compute actions");
    return withPlannedComms(s, o.validation.posting);
  }
  return s;
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
    writeOut(o, toCSV(withComms(o, s)));
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

/// Bytes of memory the engine needs per action of a schedule: the action,
/// its simulated times and the validator's and renderer's records. Measured
/// (peak RSS over actions, 1F1B N=128 M=1024 and ZB-H1 N=64 M=512: 200 to
/// 270 bytes), doubled for headroom.
constexpr double kBytesPerAction = 512;

/// Refuses, before generating anything, a schedule larger than memory:
/// N ranks x V chunks x M micro-batches x 3 actions (F, I or B, W), each
/// kBytesPerAction. --compare builds its schedules one at a time
/// (compareAll keeps only each one's figures), so the largest one counts.
void checkSize(int ranks, long microbatches, int chunks) {
  double actions = 3.0 * ranks * std::max(chunks, 2) * microbatches;
  double bytes = actions * kBytesPerAction;
  std::string source;
  int64_t available = dualpipe::sysmem::availableMemory(source);
  if (bytes <= double(available))
    return;
  usageError("--ranks=" + std::to_string(ranks) + " --microbatches=" +
             std::to_string(microbatches) + " needs about " +
             dualpipe::sysmem::formatBytes(int64_t(std::min(bytes, 9.2e18))) +
             " (" + formatNumber(actions) + " actions x " +
             formatNumber(kBytesPerAction) + " bytes), but only " + dualpipe::sysmem::formatBytes(available) +
             " is available (" + source +
             "): use fewer ranks or micro-batches");
}

} // namespace

int main(int argc, char **argv) {
  Options o = parseArgs(argc, argv);
  if (o.ranks > 0) {
    long m = o.microbatches ? *o.microbatches
                            : std::max(o.maxMicrobatches, 4 * o.ranks);
    checkSize(o.ranks, m, o.chunks);
  }

  if (o.compare) {
    if (o.ranks < 1 || !o.microbatches)
      usageError("--compare needs --ranks=N and --microbatches=M");
    const CostLists &l = o.costLists;
    if (l.f.size() > 1 || l.b.size() > 1 || l.w.size() > 1 || l.i.size() > 1 ||
        o.messageBytes.size() > 1 || o.activationBytes.size() > 1 ||
        o.parameterBytes.size() > 1 || !o.pairCosts.empty())
      usageError("--compare takes one value per cost for every stage (the schedules "
                 "have different stage counts); per-stage lists need --schedule or --input");
    CostModel cost = costFor(o, 1, "--compare");
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
    ValidationReport rep = validate(*s, o.validation);
    if (!rep.ok()) {
      std::fprintf(stderr, "dualpipe-sched: error: %s: the schedule is invalid:\n%s",
                   o.input.c_str(), rep.str(*s).c_str());
      return 1;
    }
    CostModel cost = costFor(o, s->numStages, o.input);
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
    req.cost = costFor(o, o.ranks, "an N-way cut (auto's costs)");
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
  ValidationReport rep = validate(*s, o.validation);
  if (!rep.ok()) {
    std::fprintf(stderr, "dualpipe-sched: error: %s is not valid under %s:\n%s",
                 describe(*s).c_str(),
                 o.validation.model == CommModel::Posted ? "the posted model"
                                                         : "blocking groups",
                 rep.str(*s).c_str());
    return 1;
  }
  CostModel cost = costFor(o, s->numStages, describe(*s));
  return emit(o, *s, cost, "");
}
