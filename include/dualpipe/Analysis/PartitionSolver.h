//===- PartitionSolver.h - optimal contiguous stage cuts --------*- C++ -*-===//
//
// The dynamic program behind --dualpipe-partition, on plain numbers so that
// it can be tested against brute force without MLIR.
//
// A model is a sequence of n units (its top-level ops in topological order)
// with integer costs. A partition into K stages is K+1 boundaries
// 0 = b_0 < b_1 < ... < b_K = n: stage s holds units [b_s, b_{s+1}).
// Boundary c (0 < c < n) is the cut between unit c-1 and unit c; cutting
// there moves cutBytes[c] bytes from one stage to the next.
//
// The load of a rank depends on the placement:
//   - Linear: rank s runs stage s.
//   - Nested: rank r runs stages r and K-1-r (DualPipe: K = N stages on N
//     ranks, both copies; DualPipeV: K = 2N stages on N ranks). With K odd
//     the middle stage is paired with itself and counts twice.
// The solver minimizes the largest rank load, then the total bytes crossing
// the cuts, over all partitions that cut at every mandatory boundary.
//
//===----------------------------------------------------------------------===//
#ifndef DUALPIPE_ANALYSIS_PARTITIONSOLVER_H
#define DUALPIPE_ANALYSIS_PARTITIONSOLVER_H

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace dualpipe {

enum class Pairing { Linear, Nested };

struct PartitionProblem {
  /// Cost of each unit (>= 0), in topological order.
  std::vector<int64_t> unitCost;
  /// Bytes crossing boundary c, for c = 0..n (entries 0 and n are ignored).
  std::vector<int64_t> cutBytes;
  /// Boundaries that must be cuts (size n+1 or empty; 0 and n are ignored).
  std::vector<bool> mandatory;
  int64_t numStages = 1;
  Pairing pairing = Pairing::Linear;
};

struct PartitionSolution {
  /// K+1 boundaries: bounds.front() == 0, bounds.back() == n.
  std::vector<int64_t> bounds;
  int64_t maxRankLoad = 0;
  int64_t totalCutBytes = 0;
  /// False when the tie-break on bytes was too large to search exactly and a
  /// greedy choice among the partitions of least max rank load was taken
  /// (the max rank load is optimal either way).
  bool tieBreakExact = true;
};

/// The optimal partition, or nullopt with the reason in `whyNot` (too few
/// units for the stages, too many mandatory cuts for the stages).
std::optional<PartitionSolution> solvePartition(const PartitionProblem &problem,
                                                std::string *whyNot = nullptr);

/// The same optimum by trying every set of K-1 cuts (for tests; n small).
std::optional<PartitionSolution>
solvePartitionBruteForce(const PartitionProblem &problem);

/// Per-stage loads of a partition.
std::vector<int64_t> stageLoads(const PartitionProblem &problem,
                                const std::vector<int64_t> &bounds);

/// Load of each pair of stages sharing a rank: entry p is stages p and
/// K-1-p for Nested (the middle stage twice when K is odd), stage p for
/// Linear.
std::vector<int64_t> pairLoads(const PartitionProblem &problem,
                               const std::vector<int64_t> &bounds);

/// max(pairLoads) and the sum of cutBytes over the inner boundaries.
int64_t maxRankLoad(const PartitionProblem &problem,
                    const std::vector<int64_t> &bounds);
int64_t totalCutBytes(const PartitionProblem &problem,
                      const std::vector<int64_t> &bounds);

} // namespace dualpipe

#endif // DUALPIPE_ANALYSIS_PARTITIONSOLVER_H
