//===- RuntimeTestUtil.h - Helpers for the runtime unit tests ---*- C++ -*-===//

#ifndef DUALPIPE_TEST_UNIT_RUNTIME_RUNTIMETESTUTIL_H
#define DUALPIPE_TEST_UNIT_RUNTIME_RUNTIMETESTUTIL_H

#include "dualpipe/Runtime/Runtime.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace dualpipe::test {

struct WorldDeleter {
  void operator()(dualpipe_world *world) const { dualpipe_world_destroy(world); }
};
using WorldPtr = std::unique_ptr<dualpipe_world, WorldDeleter>;

inline WorldPtr makeWorld(int32_t size, double timeoutSeconds = 5.0) {
  WorldPtr world(dualpipe_world_create_local(size, timeoutSeconds));
  EXPECT_NE(world, nullptr) << dualpipe_rt_last_error();
  return world;
}

/// Runs `body(rank)` on one thread per rank, each bound to its rank, as
/// dualpipe-run does, and joins them all.
inline void runRanks(dualpipe_world *world,
                     const std::function<void(int32_t)> &body) {
  std::vector<std::thread> threads;
  for (int32_t rank = 0; rank < dualpipe_world_size(world); ++rank)
    threads.emplace_back([world, rank, &body] {
      ASSERT_EQ(dualpipe_rt_bind(world, rank), 0) << dualpipe_rt_last_error();
      body(rank);
      dualpipe_rt_unbind();
    });
  for (std::thread &thread : threads)
    thread.join();
}

/// The calling thread's last error as a string ("" if none).
inline std::string lastError() {
  const char *message = dualpipe_rt_last_error();
  return message ? message : "";
}

inline std::string worldError(const dualpipe_world *world) {
  const char *message = dualpipe_world_error(world);
  return message ? message : "";
}

inline double secondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                       start)
      .count();
}

/// A fresh empty directory under the test temp dir.
inline std::string makeTempDir() {
  std::string pattern = ::testing::TempDir() + "dualpipe-rt-XXXXXX";
  std::vector<char> buffer(pattern.begin(), pattern.end());
  buffer.push_back('\0');
  const char *dir = mkdtemp(buffer.data());
  EXPECT_NE(dir, nullptr);
  return dir ? std::string(dir) : std::string();
}

} // namespace dualpipe::test

#endif // DUALPIPE_TEST_UNIT_RUNTIME_RUNTIMETESTUTIL_H
