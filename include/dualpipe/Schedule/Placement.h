//===- Placement.h - where a pipeline's stages run --------------*- C++ -*-===//
//
// The one implementation of the placement rules: which rank runs each stage
// under each layout, which layout each schedule family needs, and how many
// stages it cuts the model into. The dialect's verifier, the partitioner,
// the schedule pass, the pipeline builder and dualpipe-sched all ask here.
//
//===----------------------------------------------------------------------===//
#ifndef DUALPIPE_SCHEDULE_PLACEMENT_H
#define DUALPIPE_SCHEDULE_PLACEMENT_H

#include "dualpipe/Schedule/Schedule.h"

#include <optional>
#include <string>

namespace dualpipe::sched {

/// A rule mapping stages to ranks (docs/schedules/contract.md,
/// "Placement").
enum class PlacementKind : uint8_t {
  Linear,      ///< stage s on rank s * N / S (contiguous blocks).
  Interleaved, ///< stage s on rank s mod N (virtual stages).
  DualPipe,    ///< two pipelines of N stages: s < N on s, N + s on N-1-s.
  DualPipeV,   ///< 2N stages in a V: s on min(s, 2N-1-s).
};

/// linear, interleaved, dualpipe, dualpipev.
const char *placementName(PlacementKind kind);
std::optional<PlacementKind> parsePlacementName(const std::string &name);

/// The placement a schedule family runs on (Custom: linear).
PlacementKind placementKindOf(ScheduleKind kind);

/// The rank that runs stage `stage` of `numStages` on `numRanks` ranks.
/// Requires 0 <= stage < numStages and numRanks >= 1.
int64_t rankOfStage(PlacementKind kind, int64_t stage, int64_t numStages,
                    int64_t numRanks);

/// The stage count a placement cuts a model into on `numRanks` ranks when
/// the user gives none: N for linear and dualpipe (whose two pipelines
/// share the N stage functions), 2N for dualpipev, and `chunks` x N for
/// interleaved.
int64_t defaultNumStages(PlacementKind kind, int64_t numRanks, int chunks = 2);

} // namespace dualpipe::sched

#endif // DUALPIPE_SCHEDULE_PLACEMENT_H
