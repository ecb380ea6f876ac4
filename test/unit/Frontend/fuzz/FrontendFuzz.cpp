//===- FrontendFuzz.cpp - Fuzz the front half of a dualpipe compile -------===//
//
// dualpipe-fuzz-frontend: the input is parsed as an MLIR module in a
// context with every dialect dualpipe-opt registers; a module that parses
// (and so verifies) goes through the front half of the training-step chain
// (buildTrainingStepPipeline), one phase at a time: check-contract,
// partition, autodiff, schedule, insert-comm, verify. Diagnostics are
// captured, never printed. Beyond "never crash, never abort, never a
// sanitizer report", each phase must keep its contract:
//   - a phase that fails has said why (at least one error diagnostic);
//   - a phase that succeeds leaves a module that verifies (the pass
//     manager's own verifier is off so that this is checked here).
// The step's options (schedule, ranks, micro-batches, loss) are picked from
// the input's hash, so every seed meets several configurations; most get a
// rank count their stage boundaries fit, the rest go through the cut solver.
//
// libMLIR here is built by GCC without instrumentation, so a libFuzzer
// build would have no coverage signal from the parser or the passes; this
// file therefore carries its own driver (main below): a seeded mutation loop
// whose mutations know MLIR's tokens (integers and shapes, element types,
// SSA names, op names, strings, whole lines spliced between seeds) and which
// keeps a parsing mutant when it reaches a phase or an error message not
// seen before, drawing half of its parents from the inputs that got past
// check-contract. It prints how many inputs parsed and how many reached and passed
// each phase.
//
//   dualpipe-fuzz-frontend [-max_total_time=S] [-seed=N] [-timeout=S]
//                          [-artifact_prefix=P] CORPUS_DIR... | FILE...
//
//===----------------------------------------------------------------------===//

#include "dualpipe/InitAll.h"
#include "dualpipe/Pipelines/Pipelines.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/Support/ErrorHandling.h"
#include "llvm/Support/Signals.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <map>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

extern "C" void __sanitizer_set_death_callback(void (*)(void)) __attribute__((weak));

namespace {

using namespace mlir;

constexpr std::array<dualpipe::Phase, 6> kPhases = {
    dualpipe::Phase::ContractCheck, dualpipe::Phase::Partition,
    dualpipe::Phase::Autodiff,      dualpipe::Phase::Schedule,
    dualpipe::Phase::Comm,          dualpipe::Phase::Verify};

struct Stats {
  uint64_t runs = 0, parsed = 0;
  std::array<uint64_t, kPhases.size()> reached{}, passed{};
  /// Per phase: how often each first error (digits dropped) stopped an input.
  std::array<std::map<std::string, uint64_t>, kPhases.size()> stoppedBy;
} stats;

/// The outcome of one input, for the driver's feedback.
struct Outcome {
  int lastPhase = -2; ///< -2: did not parse, -1: parsed, i: reached kPhases[i]
  bool passedAll = false;
  std::string firstError; ///< The first error of the last step, digits dropped.
};

struct Config {
  const char *schedule;
  int64_t ranks, microbatches;
  const char *loss;
};
constexpr Config kConfigs[] = {
    {"1f1b", 2, 4, ""},      {"gpipe", 2, 2, ""},       {"zb1p", 2, 3, ""},
    {"dualpipev", 1, 4, ""}, {"interleaved", 2, 4, ""}, {"1f1b", 2, 4, "mse"},
    {"dualpipe", 2, 4, ""},  {"1f1b", 1, 1, ""},        {"zbv", 2, 4, "cross_entropy"},
    {"1f1b", 3, 6, ""}};

const DialectRegistry &registry() {
  static DialectRegistry *r = [] {
    auto *reg = new DialectRegistry;
    dualpipe::registerAllDialects(*reg);
    return reg;
  }();
  return *r;
}

[[noreturn]] void broken(const std::string &what, const std::string &diags) {
  std::fprintf(stderr, "front-half invariant broken: %s\n%s\n", what.c_str(),
               diags.c_str());
  std::abort();
}

std::string normalized(std::string s) {
  s.erase(std::remove_if(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; }),
          s.end());
  return s.substr(0, 160);
}

Outcome runOne(llvm::StringRef text) {
  Outcome out;
  ++stats.runs;
  uint64_t h = 1469598103934665603ull;
  for (char c : text)
    h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  const Config &cfg = kConfigs[h % (sizeof kConfigs / sizeof *kConfigs)];
  // Most inputs get a rank count their markers fit (N stages on N ranks,
  // 2N on N for the V placements and interleaved), so that partition's
  // marker path is taken; the rest keep the config's ranks, which sends
  // models with fewer markers than stages through the cut solver.
  int64_t stages = 1;
  for (size_t at = text.find("dualpipe.stage_boundary"); at != llvm::StringRef::npos;
       at = text.find("dualpipe.stage_boundary", at + 1))
    ++stages;
  int64_t ranks = cfg.ranks;
  std::string schedule = cfg.schedule;
  if ((h >> 16) % 4 != 0) {
    bool twoPerRank = schedule == "dualpipev" || schedule == "zbv" ||
                      schedule == "interleaved";
    if (twoPerRank && stages % 2 == 0)
      ranks = stages / 2;
    else if (twoPerRank)
      schedule = "1f1b", ranks = stages;
    else if (schedule == "dualpipe" && stages % 2 != 0)
      schedule = "zb1p", ranks = stages;
    else
      ranks = stages;
    ranks = std::min<int64_t>(ranks, 8);
  }

  MLIRContext context(registry(), MLIRContext::Threading::DISABLED);
  int errors = 0;
  std::string diags;
  ScopedDiagnosticHandler handler(&context, [&](Diagnostic &d) {
    if (d.getSeverity() == DiagnosticSeverity::Error) {
      if (errors++ == 0)
        out.firstError = normalized(d.str());
    }
    if (diags.size() < 4096)
      diags += d.str() + "\n";
    return success();
  });
  OwningOpRef<ModuleOp> module = parseSourceString<ModuleOp>(text, &context);
  if (!module)
    return out;
  ++stats.parsed;
  out.lastPhase = -1;

  dualpipe::StepOptions step;
  step.schedule = schedule;
  step.ranks = ranks;
  step.microbatches = cfg.microbatches;
  step.loss = cfg.loss;
  step.reference = false;
  for (size_t i = 0; i < kPhases.size(); ++i) {
    PassManager pm(&context, ModuleOp::getOperationName());
    pm.enableVerifier(false);
    dualpipe::buildTrainingStepPipeline(pm, step, kPhases[i], kPhases[i]);
    ++stats.reached[i];
    out.lastPhase = static_cast<int>(i);
    errors = 0;
    out.firstError.clear();
    diags.clear();
    if (failed(pm.run(*module))) {
      ++stats.stoppedBy[i][out.firstError.substr(0, 110)];
      if (errors == 0)
        broken("phase " + dualpipe::phaseName(kPhases[i]).str() +
                   " failed without an error diagnostic",
               diags);
      return out;
    }
    if (failed(verify(*module)))
      broken("phase " + dualpipe::phaseName(kPhases[i]).str() +
                 " left a module that does not verify",
             diags);
    ++stats.passed[i];
  }
  out.passedAll = true;
  return out;
}

//--- The driver -------------------------------------------------------------//

std::string current;           ///< The input being run (for the crash file).
std::string crashPath = "crash-input";

void saveCurrent() {
  int fd = ::open(crashPath.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0)
    return;
  size_t done = 0;
  while (done < current.size()) {
    ssize_t n = ::write(fd, current.data() + done, current.size() - done);
    if (n <= 0)
      break;
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  const char msg[] = "dualpipe-fuzz-frontend: the failing input is saved as ";
  (void)!::write(2, msg, sizeof msg - 1);
  (void)!::write(2, crashPath.data(), crashPath.size());
  (void)!::write(2, "\n", 1);
}

void onSignal(int sig) {
  if (sig == SIGALRM) {
    const char msg[] = "dualpipe-fuzz-frontend: timeout on one input\n";
    (void)!::write(2, msg, sizeof msg - 1);
  }
  saveCurrent();
  ::signal(sig, SIG_DFL);
  if (sig == SIGALRM)
    ::_exit(70);
  ::raise(sig);
}

std::vector<std::string> readInputs(const std::string &path) {
  std::vector<std::string> inputs;
  auto readFile = [&](const std::string &file) {
    std::ifstream in(file, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    inputs.push_back(s.str());
  };
  if (DIR *d = opendir(path.c_str())) {
    std::vector<std::string> names;
    while (dirent *e = readdir(d))
      if (e->d_name[0] != '.')
        names.push_back(e->d_name);
    closedir(d);
    std::sort(names.begin(), names.end());
    for (const std::string &n : names)
      readFile(path + "/" + n);
  } else {
    readFile(path);
  }
  return inputs;
}

/// A token of MLIR text: [begin, end) and its class.
struct Token {
  size_t begin, end;
  char kind; ///< 'n' integer, 'i' identifier / op name / type, '%' SSA name,
             ///< '@' symbol, '"' string, 'p' punctuation
};

std::vector<Token> tokenize(const std::string &s) {
  std::vector<Token> tokens;
  size_t i = 0;
  auto ident = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '$'; };
  while (i < s.size()) {
    char c = s[i];
    size_t b = i;
    if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
      continue;
    }
    if (c == '/' && i + 1 < s.size() && s[i + 1] == '/') {
      while (i < s.size() && s[i] != '\n')
        ++i;
      continue;
    }
    if (std::isdigit(static_cast<unsigned char>(c))) {
      while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i])))
        ++i;
      tokens.push_back({b, i, 'n'});
    } else if (c == '%' || c == '@' || c == '^' || c == '#' || c == '!') {
      ++i;
      while (i < s.size() && ident(s[i]))
        ++i;
      tokens.push_back({b, i, c == '@' ? '@' : '%'});
    } else if (c == '"') {
      ++i;
      while (i < s.size() && s[i] != '"' && s[i] != '\n')
        i += s[i] == '\\' ? 2 : 1;
      i = std::min(i + 1, s.size());
      tokens.push_back({b, i, '"'});
    } else if (ident(c)) {
      // Shapes: "4x16xf32" splits into 4, x16xf32 -> keep digits apart.
      while (i < s.size() && ident(s[i]) && !(s[i] == 'x' && i + 1 < s.size() && std::isdigit(static_cast<unsigned char>(s[i + 1]))))
        ++i;
      if (i == b)
        ++i;
      tokens.push_back({b, i, 'i'});
    } else {
      ++i;
      tokens.push_back({b, i, 'p'});
    }
  }
  return tokens;
}

std::vector<std::string> lines(const std::string &s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  std::string l;
  while (std::getline(in, l))
    out.push_back(l + "\n");
  return out;
}

std::string join(const std::vector<std::string> &ls) {
  std::string s;
  for (const auto &l : ls)
    s += l;
  return s;
}

class Mutator {
public:
  Mutator(uint64_t seed) : rng(seed) {}

  void learn(const std::string &s) {
    for (const Token &t : tokenize(s)) {
      std::string text = s.substr(t.begin, t.end - t.begin);
      if (t.kind == 'i' || t.kind == '"' || t.kind == '@')
        vocabulary[t.kind].insert(text);
    }
    for (const std::string &l : lines(s))
      if (l.find_first_not_of(" \t\n") != std::string::npos && allLines.size() < 20000)
        allLines.push_back(l);
    for (auto &[k, set] : vocabulary)
      words[k].assign(set.begin(), set.end());
  }

  std::string mutate(std::string s) {
    // Mostly one edit: most of MLIR's grammar breaks under two.
    int edits = rng() % 8 == 0 ? 2 : 1;
    for (int k = 0; k < edits; ++k)
      s = once(std::move(s));
    return s;
  }

private:
  std::string once(std::string s) {
    std::vector<Token> tokens = tokenize(s);
    auto pick = [&](char kind) -> const Token * {
      std::vector<const Token *> of;
      for (const Token &t : tokens)
        if (t.kind == kind)
          of.push_back(&t);
      return of.empty() ? nullptr : of[rng() % of.size()];
    };
    auto replace = [&](const Token &t, const std::string &with) {
      return s.substr(0, t.begin) + with + s.substr(t.end);
    };
    static const char *numbers[] = {"0", "1", "2", "3", "4", "5", "7", "8", "16",
                                    "63", "64", "65", "255", "1024", "2147483647",
                                    "2147483648", "4294967296", "9223372036854775807"};
    static const char *types[] = {"f32", "f16", "bf16", "f64", "i1", "i8", "i32",
                                  "i64", "index", "f8E4M3FN", "complex<f32>"};
    switch (rng() % 13) {
    case 0:
    case 1: // An integer (a shape, a dimension, an attribute value).
      if (const Token *t = pick('n')) {
        std::string n = s.substr(t->begin, t->end - t->begin);
        switch (rng() % 3) {
        case 0: return replace(*t, numbers[rng() % (sizeof numbers / sizeof *numbers)]);
        case 1: return replace(*t, std::to_string(std::stoll("0" + n.substr(0, 15)) + 1));
        default: return replace(*t, std::to_string(std::max(0ll, std::stoll("0" + n.substr(0, 15)) - 1)));
        }
      }
      break;
    case 2: // An element type.
      if (const Token *t = pick('i')) {
        std::string w = s.substr(t->begin, t->end - t->begin);
        for (const char *ty : types)
          if (w == ty || w == std::string("x") + ty)
            return replace(*t, (w[0] == 'x' ? "x" : "") + std::string(types[rng() % (sizeof types / sizeof *types)]));
        // Not a type: any identifier of the corpus (op names, keywords).
        if (!words['i'].empty())
          return replace(*t, words['i'][rng() % words['i'].size()]);
      }
      break;
    case 3:
    case 4: { // An SSA value or block name for another one of this input.
      const Token *a = pick('%'), *b = pick('%');
      if (a && b)
        return replace(*a, s.substr(b->begin, b->end - b->begin));
      break;
    }
    case 5: // A string or symbol for another one of the corpus.
      if (const Token *t = pick(rng() % 2 ? '"' : '@')) {
        const auto &w = words[t->kind];
        if (!w.empty())
          return replace(*t, w[rng() % w.size()]);
      }
      break;
    case 6: { // Delete a line.
      auto ls = lines(s);
      if (ls.size() > 1)
        ls.erase(ls.begin() + rng() % ls.size());
      return join(ls);
    }
    case 7: { // Duplicate or move a line.
      auto ls = lines(s);
      if (ls.size() > 1) {
        size_t from = rng() % ls.size(), to = rng() % ls.size();
        std::string l = ls[from];
        if (rng() % 2)
          ls.erase(ls.begin() + from);
        ls.insert(ls.begin() + std::min(to, ls.size()), l);
      }
      return join(ls);
    }
    case 8: { // Splice a line of another seed in.
      auto ls = lines(s);
      if (!allLines.empty())
        ls.insert(ls.begin() + (ls.empty() ? 0 : rng() % ls.size()),
                  allLines[rng() % allLines.size()]);
      return join(ls);
    }
    case 9: { // Delete a token (an attribute, a bracket, an operand).
      if (!tokens.empty()) {
        const Token &t = tokens[rng() % tokens.size()];
        return s.substr(0, t.begin) + s.substr(t.end);
      }
      break;
    }
    case 10: { // Duplicate a token.
      if (!tokens.empty()) {
        const Token &t = tokens[rng() % tokens.size()];
        return s.substr(0, t.end) + " " + s.substr(t.begin, t.end - t.begin) + s.substr(t.end);
      }
      break;
    }
    case 11: { // Swap two integers (shapes that still agree elsewhere).
      const Token *a = pick('n'), *b = pick('n');
      if (a && b && a->begin != b->begin) {
        const Token &x = a->begin < b->begin ? *a : *b, &y = a->begin < b->begin ? *b : *a;
        return s.substr(0, x.begin) + s.substr(y.begin, y.end - y.begin) +
               s.substr(x.end, y.begin - x.end) + s.substr(x.begin, x.end - x.begin) +
               s.substr(y.end);
      }
      break;
    }
    default: { // Bytes.
      if (s.empty())
        return s;
      size_t at = rng() % s.size();
      switch (rng() % 3) {
      case 0: s[at] = static_cast<char>(s[at] ^ (1 << (rng() % 8))); break;
      case 1: s.erase(at, 1 + rng() % 8); break;
      default: s.insert(at, 1, "{}()<>[]:,=x-"[rng() % 13]);
      }
    }
    }
    return s;
  }

  std::mt19937_64 rng;
  std::map<char, std::set<std::string>> vocabulary;
  std::map<char, std::vector<std::string>> words;
  std::vector<std::string> allLines;
};

/// Splits a lit test at its "// -----" separators.
std::vector<std::string> splitInput(const std::string &s) {
  std::vector<std::string> parts;
  size_t from = 0;
  while (true) {
    size_t at = s.find("\n// -----", from);
    std::string part = s.substr(from, at == std::string::npos ? std::string::npos : at - from);
    if (part.find_first_not_of(" \t\n") != std::string::npos)
      parts.push_back(part);
    if (at == std::string::npos)
      break;
    size_t eol = s.find('\n', at + 1);
    if (eol == std::string::npos)
      break;
    from = eol + 1;
  }
  return parts;
}

} // namespace

int main(int argc, char **argv) {
  double seconds = 20;
  uint64_t seed = 1;
  unsigned timeout = 30;
  std::vector<std::string> corpus;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("-max_total_time=", 0) == 0)
      seconds = std::atof(a.c_str() + 16);
    else if (a.rfind("-seed=", 0) == 0)
      seed = std::strtoull(a.c_str() + 6, nullptr, 10);
    else if (a.rfind("-timeout=", 0) == 0)
      timeout = static_cast<unsigned>(std::atoi(a.c_str() + 9));
    else if (a.rfind("-artifact_prefix=", 0) == 0)
      crashPath = a.substr(17) + "crash-input";
    else if (a[0] != '-')
      for (std::string &s : readInputs(a))
        for (std::string &part : splitInput(s))
          corpus.push_back(std::move(part));
  }
  if (corpus.empty())
    corpus.push_back("module {}\n");
  for (int sig : {SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGALRM})
    ::signal(sig, onSignal);
  if (__sanitizer_set_death_callback)
    __sanitizer_set_death_callback(saveCurrent);
  // report_fatal_error and friends: save the input, then crash.
  llvm::install_fatal_error_handler(
      [](void *, const char *reason, bool) {
        std::fprintf(stderr, "LLVM fatal error: %s\n", reason);
        saveCurrent();
        std::abort();
      },
      nullptr);

  Mutator mutator(seed);
  for (const std::string &s : corpus)
    mutator.learn(s);
  std::set<std::string> seen;
  std::vector<size_t> deep; ///< Corpus entries that passed check-contract.
  auto run = [&](const std::string &s, size_t index) {
    current = s;
    ::alarm(timeout);
    Outcome o = runOne(s);
    ::alarm(0);
    if (o.lastPhase >= 1)
      deep.push_back(index);
    return std::to_string(o.lastPhase) + (o.passedAll ? "+" : "") + ":" + o.firstError;
  };
  size_t seeds = corpus.size();
  for (size_t i = 0; i < seeds; ++i)
    seen.insert(run(corpus[i], i));
  std::mt19937_64 rng(seed ^ 0x9e3779b97f4a7c15ull);
  auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  uint64_t kept = 0;
  while (std::chrono::steady_clock::now() < end) {
    // Half of the parents are inputs that got past check-contract, where
    // most of dualpipe's own code runs.
    size_t parent = !deep.empty() && rng() % 2 ? deep[rng() % deep.size()]
                                               : rng() % corpus.size();
    std::string s = mutator.mutate(corpus[parent]);
    if (s.size() > 65536)
      continue;
    // Kept: a mutant that parses and ends in a phase or an error not seen
    // before (inputs that do not parse would crowd the corpus with
    // parser messages).
    size_t before = deep.size();
    std::string outcome = run(s, corpus.size());
    bool keep = outcome.rfind("-2:", 0) != 0 && seen.insert(outcome).second &&
                corpus.size() < 4096;
    if (!keep)
      deep.resize(before);
    if (keep) {
      corpus.push_back(s);
      ++kept;
    }
  }
  std::printf("Done %llu runs in %.0f second(s) (seeded MLIR-aware mutation loop, "
              "seed %llu, %zu seeds, %llu mutants kept for new outcomes)\n",
              (unsigned long long)stats.runs, seconds, (unsigned long long)seed, seeds,
              (unsigned long long)kept);
  std::printf("parsed: %llu of %llu\n", (unsigned long long)stats.parsed,
              (unsigned long long)stats.runs);
  for (size_t i = 0; i < kPhases.size(); ++i)
    std::printf("phase %-14s reached %8llu  passed %8llu\n",
                dualpipe::phaseName(kPhases[i]).str().c_str(),
                (unsigned long long)stats.reached[i],
                (unsigned long long)stats.passed[i]);
  for (size_t i = 0; i < kPhases.size(); ++i) {
    std::vector<std::pair<uint64_t, std::string>> top;
    for (const auto &[message, n] : stats.stoppedBy[i])
      top.push_back({n, message});
    std::sort(top.rbegin(), top.rend());
    for (size_t k = 0; k < top.size() && k < 3; ++k)
      std::printf("  stopped in %s %llu times by: %s\n",
                  dualpipe::phaseName(kPhases[i]).str().c_str(),
                  (unsigned long long)top[k].first, top[k].second.c_str());
  }
  std::printf("crashes: 0\n");
  return 0;
}
