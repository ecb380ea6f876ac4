//===- PartitionSolverTest.cpp - the partition DP against brute force ----===//
#include "dualpipe/Analysis/PartitionSolver.h"

#include <gtest/gtest.h>

#include <random>

using namespace dualpipe;

namespace {

PartitionProblem make(std::vector<int64_t> cost, int64_t stages,
                      Pairing pairing, std::vector<int64_t> bytes = {},
                      std::vector<int64_t> mandatory = {}) {
  PartitionProblem pb;
  pb.unitCost = std::move(cost);
  int64_t n = pb.unitCost.size();
  pb.cutBytes = bytes.empty() ? std::vector<int64_t>(n + 1, 0) : bytes;
  pb.mandatory.assign(n + 1, false);
  for (int64_t c : mandatory)
    pb.mandatory[c] = true;
  pb.numStages = stages;
  pb.pairing = pairing;
  return pb;
}

/// The solution is a valid partition and its reported figures are its own.
void expectWellFormed(const PartitionProblem &pb, const PartitionSolution &s) {
  int64_t n = pb.unitCost.size();
  ASSERT_EQ((int64_t)s.bounds.size(), pb.numStages + 1);
  EXPECT_EQ(s.bounds.front(), 0);
  EXPECT_EQ(s.bounds.back(), n);
  for (size_t i = 1; i < s.bounds.size(); ++i)
    EXPECT_LT(s.bounds[i - 1], s.bounds[i]) << "stage " << i - 1 << " is empty";
  for (int64_t c = 1; c < n; ++c)
    if (pb.mandatory[c])
      EXPECT_NE(std::find(s.bounds.begin(), s.bounds.end(), c), s.bounds.end())
          << "mandatory cut " << c << " is missing";
  EXPECT_EQ(s.maxRankLoad, maxRankLoad(pb, s.bounds));
  EXPECT_EQ(s.totalCutBytes, totalCutBytes(pb, s.bounds));
}

std::string show(const std::vector<int64_t> &v) {
  std::string out;
  for (int64_t x : v)
    out += std::to_string(x) + " ";
  return out;
}

TEST(PartitionSolver, LinearHandWorked) {
  // 1+2 | 3 | 4: the best max stage is 4.
  auto pb = make({1, 2, 3, 4}, 3, Pairing::Linear);
  auto s = solvePartition(pb);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->bounds, (std::vector<int64_t>{0, 2, 3, 4}));
  EXPECT_EQ(s->maxRankLoad, 4);
}

TEST(PartitionSolver, NestedPairsHeavyHead) {
  // A light embedding, six light layers and a heavy LM head. Linear on 4
  // ranks cannot go below the head's 8. DualPipe's rank r runs S_r and
  // S_{3-r}: the head's stage pairs with the embedding's, 1 + 8 = 9 for two
  // micro-batches (one per pipeline), 4.5 per micro-batch.
  std::vector<int64_t> cost{1, 1, 1, 1, 1, 1, 1, 8};
  auto linear = solvePartition(make(cost, 4, Pairing::Linear));
  ASSERT_TRUE(linear);
  EXPECT_EQ(linear->maxRankLoad, 8);
  auto nested = solvePartition(make(cost, 4, Pairing::Nested));
  ASSERT_TRUE(nested);
  EXPECT_EQ(nested->bounds[1], 1); // the embedding alone
  EXPECT_EQ(nested->bounds[3], 7); // the head alone
  EXPECT_EQ(nested->maxRankLoad, 9);
  EXPECT_EQ(pairLoads(make(cost, 4, Pairing::Nested), nested->bounds),
            (std::vector<int64_t>{9, 6}));
}

TEST(PartitionSolver, NestedHeavyEndsPairTogether) {
  // Both ends heavy: they share rank 0, so the pair costs at least 20.
  std::vector<int64_t> cost{10, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 10};
  auto nested = solvePartition(make(cost, 4, Pairing::Nested));
  ASSERT_TRUE(nested);
  EXPECT_EQ(nested->maxRankLoad, 20);
}

TEST(PartitionSolver, OddNestedCountsMiddleTwice) {
  auto pb = make({3, 3, 3}, 3, Pairing::Nested);
  auto s = solvePartition(pb);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->maxRankLoad, 6); // 3+3 for the outer pair, 2*3 in the middle
}

TEST(PartitionSolver, TieBrokenByBytes) {
  // Equal costs: any 2-stage cut of 4 ops but the middle gives max 3; the
  // middle cut (max 2) wins; with a tie on load, the cheaper cut wins.
  auto pb = make({1, 1, 1, 1, 1, 1}, 3, Pairing::Linear,
                 {0, 9, 5, 9, 1, 9, 0});
  auto s = solvePartition(pb);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->bounds, (std::vector<int64_t>{0, 2, 4, 6}));
  EXPECT_EQ(s->totalCutBytes, 6);
}

TEST(PartitionSolver, MandatoryCutsAreKept) {
  auto pb = make({1, 1, 1, 1, 1, 1, 1, 1}, 4, Pairing::Linear, {}, {1});
  auto s = solvePartition(pb);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->bounds[1], 1);
  EXPECT_EQ(s->maxRankLoad, 3); // 1 | then 7 ops in 3 stages
}

TEST(PartitionSolver, Infeasible) {
  std::string why;
  EXPECT_FALSE(solvePartition(make({1, 1}, 3, Pairing::Linear), &why));
  EXPECT_NE(why.find("3 stages need at least 3 ops"), std::string::npos) << why;
  EXPECT_FALSE(
      solvePartition(make({1, 1, 1, 1}, 2, Pairing::Nested, {}, {1, 2}), &why));
  EXPECT_NE(why.find("2 mandatory cuts"), std::string::npos) << why;
}

/// Random small graphs: the DP equals the brute force over every cut set, in
/// max rank load first and bytes crossing the cuts second.
TEST(PartitionSolver, OptimalAgainstBruteForce) {
  std::mt19937_64 rng(20240611);
  int checked = 0;
  for (int iter = 0; iter < 4000; ++iter) {
    int64_t n = 1 + rng() % 10;
    int64_t K = 1 + rng() % std::min<int64_t>(n, 7);
    Pairing pairing = rng() % 2 ? Pairing::Nested : Pairing::Linear;
    // Small cost ranges make ties (the tie-break's job) frequent.
    int64_t costRange = 1 + rng() % (iter % 3 == 0 ? 3 : 50);
    std::vector<int64_t> cost(n), bytes(n + 1, 0);
    for (auto &c : cost)
      c = rng() % (costRange + 1);
    for (int64_t c = 1; c < n; ++c)
      bytes[c] = rng() % 20;
    std::vector<int64_t> mandatory;
    if (rng() % 3 == 0)
      for (int64_t c = 1; c < n; ++c)
        if (rng() % 5 == 0 && (int64_t)mandatory.size() < K - 1)
          mandatory.push_back(c);
    auto pb = make(cost, K, pairing, bytes, mandatory);
    auto want = solvePartitionBruteForce(pb);
    auto got = solvePartition(pb);
    ASSERT_EQ(bool(want), bool(got));
    if (!want)
      continue;
    SCOPED_TRACE("costs " + show(cost) + "bytes " + show(bytes) + "K " +
                 std::to_string(K) +
                 (pairing == Pairing::Nested ? " nested" : " linear") +
                 " mandatory " + show(mandatory));
    expectWellFormed(pb, *got);
    EXPECT_EQ(got->maxRankLoad, want->maxRankLoad)
        << "got " << show(got->bounds) << "want " << show(want->bounds);
    EXPECT_EQ(got->totalCutBytes, want->totalCutBytes)
        << "got " << show(got->bounds) << "want " << show(want->bounds);
    EXPECT_TRUE(got->tieBreakExact);
    ++checked;
  }
  EXPECT_GT(checked, 3000);
}

/// Larger graphs than brute force can take: the DP is never beaten by any
/// of many random valid partitions.
TEST(PartitionSolver, NotBeatenByRandomPartitions) {
  std::mt19937_64 rng(7);
  for (int iter = 0; iter < 40; ++iter) {
    int64_t n = 30 + rng() % 40;
    int64_t K = 2 + rng() % 8;
    Pairing pairing = iter % 2 ? Pairing::Nested : Pairing::Linear;
    std::vector<int64_t> cost(n), bytes(n + 1, 0);
    for (auto &c : cost)
      c = rng() % 1000;
    for (int64_t c = 1; c < n; ++c)
      bytes[c] = rng() % 100;
    auto pb = make(cost, K, pairing, bytes);
    auto got = solvePartition(pb);
    ASSERT_TRUE(got);
    expectWellFormed(pb, *got);
    for (int trial = 0; trial < 2000; ++trial) {
      std::vector<int64_t> cuts;
      for (int64_t c = 1; c < n; ++c)
        cuts.push_back(c);
      std::shuffle(cuts.begin(), cuts.end(), rng);
      std::vector<int64_t> bounds(cuts.begin(), cuts.begin() + K - 1);
      bounds.push_back(0);
      bounds.push_back(n);
      std::sort(bounds.begin(), bounds.end());
      int64_t load = maxRankLoad(pb, bounds);
      EXPECT_LE(got->maxRankLoad, load);
      if (load == got->maxRankLoad)
        EXPECT_LE(got->totalCutBytes, totalCutBytes(pb, bounds));
    }
  }
}

} // namespace
