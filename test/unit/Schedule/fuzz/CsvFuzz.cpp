//===- CsvFuzz.cpp - Fuzz the schedule CSV reader -------------------------===//
//
// One libFuzzer target for parseCSV (lib/Schedule/TextForm.cpp), the reader
// of `dualpipe-sched --input=FILE.csv` and of every PyTorch-style schedule
// file: the input is the file. It is read once with an inferred placement
// and once as the schedule kind the input's length picks. Beyond "never
// crash, never an uncaught exception, never a sanitizer report" (the
// sanitizers and libFuzzer watch those), what the reader accepts must be
// consistent:
//   - a refused file always has an error message;
//   - an accepted schedule writes back (toCSV) and reads again, under the
//     options it was read with, to the same schedule, and writes to the
//     same text again;
//   - validate() under both comm models either accepts it or names at least
//     one error, and its report can be printed;
//   - a schedule validate() accepts can be simulated.
//
//===----------------------------------------------------------------------===//

#include "dualpipe/Schedule/Schedule.h"
#include "dualpipe/Schedule/Simulator.h"
#include "dualpipe/Schedule/TextForm.h"
#include "dualpipe/Schedule/Validator.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

using namespace dualpipe::sched;

namespace {

[[noreturn]] void broken(const char *what) {
  std::fprintf(stderr, "CSV reader invariant broken: %s\n", what);
  std::abort();
}

bool sameSchedule(const Schedule &a, const Schedule &b) {
  if (a.numRanks != b.numRanks || a.numStages != b.numStages ||
      a.numMicrobatches != b.numMicrobatches || a.ranks != b.ranks ||
      a.stageToRank != b.stageToRank || a.hasComms() != b.hasComms())
    return false;
  if (a.hasComms() && a.comms != b.comms)
    return false;
  if (a.pipelines.size() != b.pipelines.size())
    return false;
  for (size_t i = 0; i < a.pipelines.size(); ++i)
    if (a.pipelines[i].stages != b.pipelines[i].stages ||
        a.pipelines[i].firstMicrobatch != b.pipelines[i].firstMicrobatch ||
        a.pipelines[i].numMicrobatches != b.pipelines[i].numMicrobatches)
      return false;
  return true;
}

void check(const std::string &text, const ParseOptions &options) {
  Expected<Schedule> s = parseCSV(text, options);
  if (!s) {
    if (s.error().message.empty())
      broken("a refused CSV without a message");
    return;
  }
  std::string written = toCSV(*s);
  // Read back under the options it was read with (a Custom schedule has
  // no placement to name, it is inferred again).
  Expected<Schedule> back = parseCSV(written, options);
  if (!back) {
    std::fprintf(stderr, "written:\n%s\nerror: %s\n", written.c_str(),
                 back.error().message.c_str());
    broken("a written CSV does not parse");
  }
  if (!sameSchedule(*s, *back)) {
    std::fprintf(stderr, "written:\n%s\n", written.c_str());
    broken("parse(toCSV(s)) != s");
  }
  if (toCSV(*back) != written)
    broken("toCSV(parse(toCSV(s))) != toCSV(s)");

  bool valid = false;
  for (CommModel model : {CommModel::Posted, CommModel::BlockingGroups}) {
    ValidateOptions vo;
    vo.model = model;
    ValidationReport report = validate(*s, vo);
    if (!report.ok()) {
      for (const Diagnostic &d : report.errors)
        if (d.message.empty())
          broken("a validation error without a message");
      if (report.str(*s).empty())
        broken("an empty validation report");
    } else if (model == CommModel::Posted) {
      valid = true;
    }
  }
  if (valid) {
    CostModel cost;
    Expected<SimulationResult> r = simulate(*s, cost);
    if (!r) {
      std::fprintf(stderr, "simulate: %s\n", r.error().message.c_str());
      broken("a schedule validate() accepts does not simulate");
    }
    (void)peakActivations(*s);
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  // Schedules of more than a few thousand actions only cost time here.
  if (size > 16384)
    return 0;
  std::string text(reinterpret_cast<const char *>(data), size);
  check(text, ParseOptions{});
  const std::vector<ScheduleKind> &kinds = allScheduleKinds();
  ParseOptions named;
  named.kind = kinds[size % kinds.size()];
  check(text, named);
  return 0;
}
