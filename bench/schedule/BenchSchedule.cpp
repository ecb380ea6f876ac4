//===- BenchSchedule.cpp - Time to generate, validate, simulate DualPipe --===//
//
// Prints the time to generate, validate and simulate DualPipe at N=64,
// M=512 (and any N M given on the command line), best of a few runs.
//
//===----------------------------------------------------------------------===//

#include "dualpipe/Schedule/Generators.h"
#include "dualpipe/Schedule/Simulator.h"
#include "dualpipe/Schedule/Validator.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>

using namespace dualpipe::sched;
using Clock = std::chrono::steady_clock;

static double ms(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

int main(int argc, char **argv) {
  int n = argc > 1 ? std::atoi(argv[1]) : 64;
  int m = argc > 2 ? std::atoi(argv[2]) : 512;
  const int runs = 5;
  double gen = 1e30, val = 1e30, sim = 1e30;
  size_t actions = 0;
  double makespan = 0;
  for (int i = 0; i < runs; ++i) {
    auto t0 = Clock::now();
    Expected<Schedule> s = generate({ScheduleKind::DualPipe, n, m, 2});
    auto t1 = Clock::now();
    if (!s) {
      std::fprintf(stderr, "bench-schedule: %s\n", s.error().message.c_str());
      return 1;
    }
    ValidationReport rep = validate(*s);
    auto t2 = Clock::now();
    if (!rep.ok()) {
      std::fprintf(stderr, "bench-schedule: invalid:\n%s", rep.str(*s).c_str());
      return 1;
    }
    Expected<SimulationResult> r = simulate(*s, CostModel{});
    auto t3 = Clock::now();
    if (!r)
      return 1;
    gen = std::min(gen, ms(t0, t1));
    val = std::min(val, ms(t1, t2));
    sim = std::min(sim, ms(t2, t3));
    actions = s->numActions();
    makespan = r->makespan;
  }
  std::printf("DualPipe N=%d M=%d: %zu actions, makespan %.0f (F=1,B=2,W=1,F&B=3)\n", n, m,
              actions, makespan);
  std::printf("  generate  %9.2f ms\n  validate  %9.2f ms\n  simulate  %9.2f ms\n"
              "  total     %9.2f ms   (best of %d runs)\n",
              gen, val, sim, gen + val + sim, runs);
  return 0;
}
