//===- Placement.cpp - where a pipeline's stages run ----------------------===//
#include "dualpipe/Schedule/Placement.h"

#include <algorithm>

namespace dualpipe::sched {

namespace {
constexpr std::pair<PlacementKind, const char *> kNames[] = {
    {PlacementKind::Linear, "linear"},
    {PlacementKind::Interleaved, "interleaved"},
    {PlacementKind::DualPipe, "dualpipe"},
    {PlacementKind::DualPipeV, "dualpipev"},
};
} // namespace

const char *placementName(PlacementKind kind) {
  for (const auto &[k, name] : kNames)
    if (k == kind)
      return name;
  return "?";
}

std::optional<PlacementKind> parsePlacementName(const std::string &name) {
  for (const auto &[k, n] : kNames)
    if (name == n)
      return k;
  return std::nullopt;
}

PlacementKind placementKindOf(ScheduleKind kind) {
  switch (kind) {
  case ScheduleKind::DualPipe:
    return PlacementKind::DualPipe;
  case ScheduleKind::DualPipeV:
  case ScheduleKind::ZBV:
  case ScheduleKind::VHalf:
  case ScheduleKind::VMin:
    return PlacementKind::DualPipeV;
  case ScheduleKind::Interleaved1F1B:
  case ScheduleKind::LoopedBFS:
  case ScheduleKind::InterleavedZB:
    return PlacementKind::Interleaved;
  default:
    return PlacementKind::Linear;
  }
}

int64_t rankOfStage(PlacementKind kind, int64_t stage, int64_t numStages,
                    int64_t numRanks) {
  switch (kind) {
  case PlacementKind::Linear:
    return stage * numRanks / numStages;
  case PlacementKind::Interleaved:
    return stage % numRanks;
  case PlacementKind::DualPipe:
    return stage < numRanks ? stage : 2 * numRanks - 1 - stage;
  case PlacementKind::DualPipeV:
    return std::min(stage, 2 * numRanks - 1 - stage);
  }
  return -1;
}

int64_t defaultNumStages(PlacementKind kind, int64_t numRanks, int chunks) {
  switch (kind) {
  case PlacementKind::Linear:
  case PlacementKind::DualPipe:
    return numRanks;
  case PlacementKind::DualPipeV:
    return 2 * numRanks;
  case PlacementKind::Interleaved:
    return chunks * numRanks;
  }
  return numRanks;
}

} // namespace dualpipe::sched
