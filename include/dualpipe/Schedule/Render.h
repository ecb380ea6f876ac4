//===- Render.h - Pictures and reports of a simulated schedule --*- C++ -*-===//
//
// An SVG timeline in the style of DeepSeek's DualPipe figure, Chrome trace
// JSON (opens in Perfetto / chrome://tracing), a human-readable table and a
// JSON summary.
//
//===----------------------------------------------------------------------===//

#ifndef DUALPIPE_SCHEDULE_RENDER_H
#define DUALPIPE_SCHEDULE_RENDER_H

#include "dualpipe/Schedule/Schedule.h"
#include "dualpipe/Schedule/Simulator.h"

#include <string>

namespace dualpipe::sched {

/// A number as the reports print it: integers without a fraction, others
/// with up to 6 significant digits.
std::string formatNumber(double value);

/// The chunk index (0-based) of `stage` on its rank: its position among the
/// rank's stages in increasing order (chunk 0 = stage r, chunk 1 = stage
/// 2N-1-r in the V placement).
int chunkOf(const Schedule &schedule, int stage);

/// An SVG timeline: one row per rank, one cell per action placed at its
/// simulated time, coloured by kind and chunk and labelled with its
/// micro-batch; an overlapped pair is one framed cell split into its F and
/// B parts. `cost` supplies the costs shown in the title.
std::string toSVG(const Schedule &schedule, const SimulationResult &sim,
                  const CostModel &cost);

/// Chrome trace JSON: one thread per rank, one complete ("X") event per
/// action; one cost unit is shown as one millisecond.
std::string toChromeTrace(const Schedule &schedule, const SimulationResult &sim);

/// Human-readable table: the configuration, per-rank figures and each
/// rank's actions in issue order.
std::string toTable(const Schedule &schedule, const SimulationResult &sim);

/// The JSON summary: {"schedule", "ranks_count", "stages", "microbatches",
/// "makespan", "max_bubble", "bubble_ratio", "parameter_copies", "ranks":
/// [{"rank", "busy", "bubble", "peak_activations", "peak_activation_bytes"},
/// ...]} with ranks in order.
std::string toSummaryJSON(const Schedule &schedule, const SimulationResult &sim);

} // namespace dualpipe::sched

#endif // DUALPIPE_SCHEDULE_RENDER_H
