//===- Schedule.cpp - Actions, schedules and placements -------------------===//

#include "dualpipe/Schedule/Schedule.h"
#include "dualpipe/Schedule/Placement.h"

namespace dualpipe::sched {

char kindLetter(ActionKind kind) {
  switch (kind) {
  case ActionKind::Forward:
    return 'F';
  case ActionKind::Backward:
    return 'B';
  case ActionKind::BackwardInput:
    return 'I';
  case ActionKind::BackwardWeight:
    return 'W';
  case ActionKind::OverlappedFB:
    return '?';
  }
  return '?';
}

static std::string formatSingle(ActionKind kind, int stage, int mb) {
  std::string s = std::to_string(stage);
  s += kindLetter(kind);
  s += std::to_string(mb);
  return s;
}

std::string formatAction(const Action &a) {
  if (!a.isPair())
    return formatSingle(a.kind, a.stage, a.microbatch);
  return "(" + formatSingle(ActionKind::Forward, a.stage, a.microbatch) + ";" +
         formatSingle(ActionKind::Backward, a.bStage, a.bMicrobatch) +
         ")OVERLAP_F_B";
}

const char *commKindName(CommKind kind) {
  switch (kind) {
  case CommKind::SendF:
    return "SEND_F";
  case CommKind::RecvF:
    return "RECV_F";
  case CommKind::SendB:
    return "SEND_B";
  case CommKind::RecvB:
    return "RECV_B";
  case CommKind::Unshard:
    return "UNSHARD";
  case CommKind::Reshard:
    return "RESHARD";
  case CommKind::ReduceGrad:
    return "REDUCE_GRAD";
  }
  return "?";
}

std::string formatCommAction(const CommAction &a) {
  std::string s = std::to_string(a.stage) + commKindName(a.kind);
  if (a.hasMicrobatch())
    s += std::to_string(a.microbatch);
  return s;
}

const char *scheduleName(ScheduleKind kind) {
  switch (kind) {
  case ScheduleKind::GPipe:
    return "gpipe";
  case ScheduleKind::OneFOneB:
    return "1f1b";
  case ScheduleKind::Interleaved1F1B:
    return "interleaved";
  case ScheduleKind::ZBH1:
    return "zb1p";
  case ScheduleKind::ZBV:
    return "zbv";
  case ScheduleKind::DualPipe:
    return "dualpipe";
  case ScheduleKind::DualPipeV:
    return "dualpipev";
  case ScheduleKind::LoopedBFS:
    return "loopedbfs";
  case ScheduleKind::InterleavedZB:
    return "interleaved-zb";
  case ScheduleKind::VHalf:
    return "vhalf";
  case ScheduleKind::VMin:
    return "vmin";
  case ScheduleKind::Custom:
    return "custom";
  }
  return "custom";
}

const char *scheduleTitle(ScheduleKind kind) {
  switch (kind) {
  case ScheduleKind::GPipe:
    return "GPipe";
  case ScheduleKind::OneFOneB:
    return "1F1B";
  case ScheduleKind::Interleaved1F1B:
    return "Interleaved 1F1B";
  case ScheduleKind::ZBH1:
    return "ZB1P";
  case ScheduleKind::ZBV:
    return "ZB-V";
  case ScheduleKind::DualPipe:
    return "DualPipe";
  case ScheduleKind::DualPipeV:
    return "DualPipeV";
  case ScheduleKind::LoopedBFS:
    return "LoopedBFS";
  case ScheduleKind::InterleavedZB:
    return "Interleaved ZB";
  case ScheduleKind::VHalf:
    return "V-Half";
  case ScheduleKind::VMin:
    return "V-Min";
  case ScheduleKind::Custom:
    return "custom";
  }
  return "custom";
}

std::optional<ScheduleKind> parseScheduleName(const std::string &name) {
  if (name == "gpipe")
    return ScheduleKind::GPipe;
  if (name == "1f1b")
    return ScheduleKind::OneFOneB;
  if (name == "interleaved" || name == "interleaved-1f1b")
    return ScheduleKind::Interleaved1F1B;
  if (name == "zb1p" || name == "zbh1")
    return ScheduleKind::ZBH1;
  if (name == "zbv")
    return ScheduleKind::ZBV;
  if (name == "dualpipe")
    return ScheduleKind::DualPipe;
  if (name == "dualpipev")
    return ScheduleKind::DualPipeV;
  if (name == "loopedbfs")
    return ScheduleKind::LoopedBFS;
  if (name == "interleaved-zb")
    return ScheduleKind::InterleavedZB;
  if (name == "vhalf" || name == "v-half")
    return ScheduleKind::VHalf;
  if (name == "vmin" || name == "v-min")
    return ScheduleKind::VMin;
  return std::nullopt;
}

const std::vector<ScheduleKind> &allScheduleKinds() {
  static const std::vector<ScheduleKind> kinds = {
      ScheduleKind::GPipe,     ScheduleKind::OneFOneB, ScheduleKind::Interleaved1F1B,
      ScheduleKind::ZBH1,      ScheduleKind::ZBV,      ScheduleKind::DualPipe,
      ScheduleKind::DualPipeV, ScheduleKind::LoopedBFS, ScheduleKind::InterleavedZB,
      ScheduleKind::VHalf,     ScheduleKind::VMin};
  return kinds;
}

size_t Schedule::numActions() const {
  size_t n = 0;
  for (const auto &r : ranks)
    n += r.size();
  return n;
}

std::vector<StageLinks> stageLinks(const Schedule &schedule) {
  std::vector<StageLinks> links(schedule.numStages > 0 ? schedule.numStages : 0);
  for (size_t p = 0; p < schedule.pipelines.size(); ++p) {
    const auto &stages = schedule.pipelines[p].stages;
    for (size_t i = 0; i < stages.size(); ++i) {
      int s = stages[i];
      if (s < 0 || s >= schedule.numStages)
        continue;
      links[s].pipeline = static_cast<int>(p);
      links[s].prev = i > 0 ? stages[i - 1] : -1;
      links[s].next = i + 1 < stages.size() ? stages[i + 1] : -1;
    }
  }
  return links;
}

static Pipeline wholePipeline(int numStages, int numMicrobatches) {
  Pipeline p;
  for (int s = 0; s < numStages; ++s)
    p.stages.push_back(s);
  p.firstMicrobatch = 0;
  p.numMicrobatches = numMicrobatches;
  return p;
}

Expected<Placement> placementFor(ScheduleKind kind, int n, int m, int chunks) {
  if (n < 1)
    return Error{"the number of ranks must be at least 1, got " +
                 std::to_string(n)};
  if (m < 1)
    return Error{"the number of micro-batches must be at least 1, got " +
                 std::to_string(m)};
  if (kind == ScheduleKind::Custom)
    return Error{"a custom schedule has no known placement"};
  PlacementKind rule = placementKindOf(kind);
  if (rule == PlacementKind::Interleaved && chunks < 1)
    return Error{"interleaved 1F1B needs at least 1 chunk per rank, got " +
                 std::to_string(chunks)};
  Placement pl;
  pl.numStages = static_cast<int>(defaultNumStages(rule, n, chunks));
  pl.chunksPerRank = pl.numStages / n;
  // The schedule engine numbers DualPipe's 2N stages (both pipelines).
  if (rule == PlacementKind::DualPipe) {
    pl.numStages = 2 * n;
    pl.chunksPerRank = 2;
  }
  for (int s = 0; s < pl.numStages; ++s)
    pl.stageToRank.push_back(
        static_cast<int>(rankOfStage(rule, s, pl.numStages, n)));
  if (rule != PlacementKind::DualPipe) {
    pl.pipelines.push_back(wholePipeline(pl.numStages, m));
    return pl;
  }
  // Pipeline A: stages 0..N-1 carrying micro-batches 0..M/2-1; pipeline
  // B: stages N..2N-1 carrying M/2..M-1.
  Pipeline a, b;
  for (int s = 0; s < n; ++s) {
    a.stages.push_back(s);
    b.stages.push_back(n + s);
  }
  a.firstMicrobatch = 0;
  a.numMicrobatches = m / 2;
  b.firstMicrobatch = m / 2;
  b.numMicrobatches = m - m / 2;
  pl.pipelines = {a, b};
  return pl;
}

int parameterCopiesPerDevice(const Schedule &schedule) {
  return schedule.chunksPerRank;
}

} // namespace dualpipe::sched
