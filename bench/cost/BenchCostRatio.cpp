//===- BenchCostRatio.cpp - cost-model time of F, B, I and W -------------===//
//
// Reads a module after --dualpipe-partition and --dualpipe-autodiff and
// prints, per stage function, the roofline time of its forward (`_fwd`),
// full backward (`_bwd`), backward-input (`_bwd_i`) and backward-weight
// (`_bwd_w`) functions on a device profile, as JSON. bench/run.sh turns
// the ratios into the --cost=F=..,B=..,W=..,FB=.. of the schedule tables.
//
//   bench-cost-ratio after-autodiff.mlir [device=cpu|h200]
//
//===----------------------------------------------------------------------===//
#include "dualpipe/Analysis/CostModel.h"
#include "dualpipe/Dialect/DualPipe/IR/DualPipe.h"

#include "mlir/InitAllDialects.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"

#include <cstdio>
#include <map>
#include <string>

using namespace mlir;

int main(int argc, char **argv) {
  if (argc < 2) {
    std::fprintf(stderr,
                 "usage: bench-cost-ratio after-autodiff.mlir [device=cpu]\n");
    return 1;
  }
  std::string device = "cpu";
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("device=", 0) == 0)
      device = a.substr(7);
  }
  std::optional<dualpipe::DeviceProfile> profile =
      dualpipe::lookupDeviceProfile(device);
  if (!profile) {
    std::fprintf(stderr, "bench-cost-ratio: unknown device %s\n",
                 device.c_str());
    return 1;
  }
  DialectRegistry registry;
  registerAllDialects(registry);
  registry.insert<dualpipe::DualPipeDialect>();
  MLIRContext context(registry);
  OwningOpRef<ModuleOp> module = parseSourceFile<ModuleOp>(argv[1], &context);
  if (!module)
    return 1;
  // function name -> (seconds, flops), top-level ops only (the autodiff
  // output is straight-line code on tensors).
  std::printf("{\"device\": \"%s\", \"functions\": [", device.c_str());
  bool first = true;
  for (auto fn : module->getOps<func::FuncOp>()) {
    if (fn.isExternal())
      continue;
    double seconds = 0, flops = 0, bytes = 0;
    for (Operation &op : fn.getBody().front()) {
      if (op.hasTrait<OpTrait::IsTerminator>() ||
          dualpipe::isRematerializable(&op))
        continue;
      dualpipe::OpCost c = dualpipe::estimateOpCost(&op);
      seconds += dualpipe::estimateSeconds(c, *profile);
      flops += c.flops;
      bytes += c.bytes;
    }
    std::printf("%s\n  {\"name\": \"%s\", \"seconds\": %.6g, \"flops\": %.6g, "
                "\"bytes\": %.6g}",
                first ? "" : ",", fn.getName().str().c_str(), seconds, flops,
                bytes);
    first = false;
  }
  std::printf("\n]}\n");
  return 0;
}
