//===- BenchPartition.cpp - time the cost analysis and the partition -----===//
//
// Parses a model (e.g. a 96-layer GPT from dualpipe-gen), then times the
// cost analysis, the partition solver for each placement, and the whole
// --dualpipe-partition pass (solver plus building the stage functions),
// best of a few runs. See docs/partition.md for the figures.
//
//   bench-partition model.mlir [stages=16] [device=h200]
//
//===----------------------------------------------------------------------===//
#include "dualpipe/Analysis/CostModel.h"
#include "dualpipe/Analysis/PartitionSolver.h"
#include "dualpipe/Dialect/DualPipe/IR/DualPipe.h"
#include "dualpipe/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

using namespace mlir;
using Clock = std::chrono::steady_clock;

static double ms(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

int main(int argc, char **argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: bench-partition model.mlir [stages=16] "
                         "[device=h200]\n");
    return 1;
  }
  int64_t stages = 16;
  std::string device = "h200";
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("stages=", 0) == 0)
      stages = std::atoll(a.c_str() + 7);
    else if (a.rfind("device=", 0) == 0)
      device = a.substr(7);
  }
  std::optional<dualpipe::DeviceProfile> profile =
      dualpipe::lookupDeviceProfile(device);
  if (!profile) {
    std::fprintf(stderr, "bench-partition: unknown device %s\n",
                 device.c_str());
    return 1;
  }

  DialectRegistry registry;
  registry.insert<arith::ArithDialect, func::FuncDialect,
                  linalg::LinalgDialect, math::MathDialect,
                  tensor::TensorDialect, dualpipe::DualPipeDialect>();
  MLIRContext context(registry);
  auto t0 = Clock::now();
  OwningOpRef<ModuleOp> module = parseSourceFile<ModuleOp>(argv[1], &context);
  auto t1 = Clock::now();
  if (!module)
    return 1;
  func::FuncOp model, loss;
  for (auto fn : module->getOps<func::FuncOp>()) {
    if (fn->hasAttr(dualpipe::kModelAttr))
      model = fn;
    if (fn->hasAttr(dualpipe::kLossAttr))
      loss = fn;
  }
  if (!model) {
    std::fprintf(stderr, "bench-partition: no dualpipe.model function\n");
    return 1;
  }
  std::printf("model %s: parsed in %.1f ms\n", argv[1], ms(t0, t1));

  const int runs = 3;
  double costMs = 1e30;
  std::optional<dualpipe::ModelCost> cost;
  for (int i = 0; i < runs; ++i) {
    auto a = Clock::now();
    cost.emplace(model, *profile, loss);
    costMs = std::min(costMs, ms(a, Clock::now()));
  }
  std::printf("cost analysis: %lld ops, %.4g FLOPs, %.4g ms on %s: %.1f ms\n",
              (long long)cost->numUnits(), cost->totalFlops(),
              cost->totalSeconds() * 1e3, device.c_str(), costMs);

  dualpipe::PartitionProblem problem;
  for (const auto &u : cost->units())
    problem.unitCost.push_back(dualpipe::toSolverCost(u.seconds));
  problem.unitCost.back() += dualpipe::toSolverCost(cost->lossSeconds());
  for (int64_t b : cost->allCutBytes())
    problem.cutBytes.push_back(b);
  problem.mandatory.assign(cost->numUnits() + 1, false);
  for (int64_t c : cost->markerBoundaries())
    problem.mandatory[c] = true;
  problem.numStages = stages;

  struct Case {
    const char *placement;
    dualpipe::Pairing pairing;
    int64_t ranks;
    double copies; // micro-batches per stage copy: 2 for DualPipe
  } cases[] = {{"linear", dualpipe::Pairing::Linear, stages, 1},
               {"dualpipe", dualpipe::Pairing::Nested, stages, 2},
               {"dualpipev", dualpipe::Pairing::Nested, stages / 2, 1}};
  for (const Case &c : cases) {
    problem.pairing = c.pairing;
    double best = 1e30;
    std::optional<dualpipe::PartitionSolution> sol;
    for (int i = 0; i < runs; ++i) {
      auto a = Clock::now();
      sol = dualpipe::solvePartition(problem);
      best = std::min(best, ms(a, Clock::now()));
    }
    if (!sol) {
      std::printf("%-9s: no partition\n", c.placement);
      continue;
    }
    std::printf("%-9s: %lld stages on %lld ranks, max rank load per "
                "micro-batch %.4f ms, %lld bytes cross the cuts%s: solver "
                "%.1f ms\n",
                c.placement, (long long)stages, (long long)c.ranks,
                sol->maxRankLoad * 1e-9 / c.copies,
                (long long)sol->totalCutBytes,
                sol->tieBreakExact ? "" : " (greedy tie-break)", best);
  }

  // The whole pass, on a fresh copy each time.
  for (const Case &c : cases) {
    double best = 1e30;
    for (int i = 0; i < runs; ++i) {
      OwningOpRef<ModuleOp> copy = cast<ModuleOp>((*module)->clone());
      PassManager pm(&context);
      dualpipe::DualPipePartitionOptions options;
      options.stages = stages;
      options.placement = c.placement;
      options.device = device;
      pm.addPass(dualpipe::createDualPipePartition(options));
      auto a = Clock::now();
      if (failed(pm.run(*copy)))
        return 1;
      best = std::min(best, ms(a, Clock::now()));
    }
    std::printf("--dualpipe-partition placement=%s stages=%lld: %.1f ms\n",
                c.placement, (long long)stages, best);
  }
  return 0;
}
