//===- TextForm.h - Schedules as text (PyTorch's action grammar) -*- C++ -*-===//
//
// The interchange form of docs/schedules/contract.md: CSV, one line per rank (rank 0
// first), the rank's actions in issue order, comma-separated, each in
// torch.distributed.pipelining's grammar: compute actions (`0F3`, `7I1`,
// `7W1`, `5B2`, `(0F3;7B1)OVERLAP_F_B`) and, in torch's compute+comms form,
// non-compute ones (`0SEND_F3`, `1RECV_F3`, `2SEND_B0`, `1RECV_B0`,
// `0UNSHARD`, `0RESHARD`, `0REDUCE_GRAD`).
//
//===----------------------------------------------------------------------===//

#ifndef DUALPIPE_SCHEDULE_TEXTFORM_H
#define DUALPIPE_SCHEDULE_TEXTFORM_H

#include "dualpipe/Schedule/Placement.h"
#include "dualpipe/Schedule/Schedule.h"

#include <optional>
#include <string>

namespace dualpipe::sched {

/// The CSV of `schedule`: one line per rank, each ending in '\n', nothing
/// else; with its non-compute actions (Schedule::comms) in place when it
/// has any (torch's compute+comms form). A rank with no actions after the
/// last rank that has some is written as `""` (one empty quoted field), so
/// that parseCSV, which drops trailing blank lines, reads it back as a rank.
std::string toCSV(const Schedule &schedule);

/// How to interpret a CSV file.
struct ParseOptions {
  /// The algorithm the file was produced by; fixes the placement. When
  /// unset, the placement is inferred from each rank's stages: rank r
  /// holding stage r only is a plain pipeline; stages r and 2N-1-r is the
  /// V placement (DualPipe if the micro-batches of stages < N and >= N are
  /// disjoint, one pipeline if they coincide); stages r, r+N, r+2N, ... is
  /// interleaved. Any other placement with each stage on one rank is read
  /// as one pipeline through stages 0..S-1.
  std::optional<ScheduleKind> kind;
  /// Micro-batches per step; 0 = one more than the largest in the file.
  int numMicrobatches = 0;
  /// Chunks per rank for interleaved 1F1B; 0 = inferred from the stages.
  int chunks = 0;
};

/// Parses one action (`0F3`, `(0F3;7B1)OVERLAP_F_B`). On failure the
/// error message starts with "column C: " (1-based, relative to `text`).
Expected<Action> parseAction(const std::string &text);

/// Parses one non-compute action (`3SEND_F1`, `2UNSHARD`, `7REDUCE_GRAD`);
/// `before` is 0.
Expected<CommAction> parseCommAction(const std::string &text);

/// Parses a CSV schedule, compute-only or compute+comms (torch's
/// `_dump_csv` in either format: non-compute actions go to
/// Schedule::comms, placed before the compute action that follows them;
/// lines may end in "\r\n"; empty and quoted fields are accepted). Malformed text is reported as "line L, column C:
/// <what was expected>"; a placement that cannot be inferred says what is
/// ambiguous and how to resolve it (--schedule=NAME). The result is not
/// validated: call validate() on it.
Expected<Schedule> parseCSV(const std::string &text, const ParseOptions &options = {});

/// Whether a compile's schedule option names a CSV file rather than a
/// schedule: `FILE.csv` (any path ending in ".csv") or `file:PATH`. Returns
/// the path, or nullopt for a schedule name (or auto).
std::optional<std::string> scheduleFilePath(const std::string &value);

/// What a compile fixes before it reads a user-supplied schedule
/// (dualpipe-compile --schedule=FILE.csv, --dualpipe-schedule
/// "schedule=FILE.csv").
struct CompileScheduleRequest {
  int numRanks = 0;        ///< --ranks: the file needs one line per rank.
  int numMicrobatches = 0; ///< --microbatches: the file covers 0..M-1.
  /// The placement the stages are read under; unset: inferred from the
  /// file's stage numbering (placementOfSchedule).
  std::optional<PlacementKind> placement;
};

/// The placement rule a parsed schedule's stages follow: the first of
/// linear (S >= N stages, stage s on rank s*N/S, one pipeline),
/// interleaved (stage s on rank s mod N, one pipeline), dualpipe (2N
/// stages, s < N on rank s and N + s on N-1-s, two pipelines carrying
/// micro-batches [0, M/2) and [M/2, M)) and dualpipev (2N stages, s on
/// min(s, 2N-1-s), one pipeline) whose stage -> rank map and pipelines are
/// the schedule's; an error naming the file's map when none is.
Expected<PlacementKind> placementOfSchedule(const Schedule &schedule);

/// Reads a CSV schedule for a compile: parses it (grammar errors as
/// "line L, column C: ..."), checks it has `numRanks` lines and covers
/// micro-batches 0..M-1 exactly, reads it under `placement` (or infers
/// one), and validates it under the posted comm model the compiled step
/// runs under (a compute+comms file's own SEND/RECV actions where they
/// stand), so a schedule that would deadlock is refused with the
/// validator's diagnostic. The result's placement is in `placement`.
Expected<Schedule> readScheduleForCompile(const std::string &text,
                                          const CompileScheduleRequest &request,
                                          PlacementKind *placement = nullptr);

} // namespace dualpipe::sched

#endif // DUALPIPE_SCHEDULE_TEXTFORM_H
