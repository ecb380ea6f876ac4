//===- TraceTest.cpp - The Chrome trace written by the timeline recorder --===//

#include "RuntimeTestUtil.h"

#include <nlohmann/json.hpp>

#include <dirent.h>
#include <fstream>
#include <set>

using namespace dualpipe::test;
using nlohmann::json;

namespace {

json readJson(const std::string &path) {
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << path;
  return json::parse(in); // Throws (and fails the test) if invalid.
}

std::vector<std::string> filesIn(const std::string &dir) {
  std::vector<std::string> names;
  if (DIR *d = opendir(dir.c_str())) {
    while (dirent *entry = readdir(d))
      if (entry->d_name[0] != '.')
        names.push_back(entry->d_name);
    closedir(d);
  }
  return names;
}

/// The "X" events named `name` on `pid`.
std::vector<json> completeEvents(const json &trace, int pid,
                                 const std::string &name) {
  std::vector<json> found;
  for (const json &e : trace["traceEvents"])
    if (e["ph"] == "X" && e["pid"] == pid && e["name"] == name)
      found.push_back(e);
  return found;
}

/// A two-stage pipeline: rank 0 runs stage 0, rank 1 stage 1, two
/// micro-batches forward, with an overlapped pair on rank 1.
void runTinyPipeline(dualpipe_world *world) {
  runRanks(world, [](int32_t rank) {
    float activation[8] = {};
    for (int32_t mb = 0; mb < 2; ++mb) {
      if (rank == 0) {
        dualpipe_rt_begin_action(DUALPIPE_ACTION_F, 0, mb);
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
        ASSERT_EQ(dualpipe_rt_send(1, mb, activation, sizeof activation), 0);
        dualpipe_rt_end_action();
      } else {
        dualpipe_rt_begin_action(DUALPIPE_ACTION_PAIR, 1, mb);
        dualpipe_rt_begin_action(DUALPIPE_ACTION_F, 1, mb);
        ASSERT_EQ(dualpipe_rt_recv(0, mb, activation, sizeof activation), 0);
        dualpipe_rt_end_action();
        dualpipe_rt_end_action();
      }
    }
    ASSERT_EQ(dualpipe_rt_barrier(), 0);
  });
}

TEST(Trace, OnePidPerRankWithNamedActions) {
  WorldPtr world = makeWorld(2);
  runTinyPipeline(world.get());
  std::string dir = makeTempDir();
  std::string path = dir + "/trace.json";
  ASSERT_EQ(dualpipe_world_write_trace(world.get(), path.c_str()), 0)
      << lastError();
  EXPECT_EQ(filesIn(dir), std::vector<std::string>{"trace.json"})
      << "no temporary file is left behind";

  json trace = readJson(path);
  ASSERT_TRUE(trace["traceEvents"].is_array());
  std::set<int> pids, namedPids;
  for (const json &e : trace["traceEvents"]) {
    pids.insert(e["pid"].get<int>());
    if (e["ph"] == "M" && e["name"] == "process_name")
      namedPids.insert(e["pid"].get<int>());
    if (e["ph"] == "X") {
      EXPECT_GE(e["ts"].get<double>(), 0.0);
      EXPECT_GE(e["dur"].get<double>(), 0.0);
    }
  }
  EXPECT_EQ(pids, (std::set<int>{0, 1}));
  EXPECT_EQ(namedPids, (std::set<int>{0, 1}));

  ASSERT_EQ(completeEvents(trace, 0, "F s0 mb1").size(), 1u);
  json forward = completeEvents(trace, 0, "F s0 mb1")[0];
  EXPECT_GE(forward["dur"].get<double>(), 1500.0) << "slept 2 ms";
  EXPECT_EQ(forward["args"]["stage"], 0);
  EXPECT_EQ(forward["args"]["microbatch"], 1);

  // The pair encloses its forward, which encloses the receive.
  ASSERT_EQ(completeEvents(trace, 1, "F&B s1 mb0").size(), 1u);
  ASSERT_EQ(completeEvents(trace, 1, "F s1 mb0").size(), 1u);
  ASSERT_EQ(completeEvents(trace, 1, "recv from 0 tag 0").size(), 1u);
  json pair = completeEvents(trace, 1, "F&B s1 mb0")[0];
  json inner = completeEvents(trace, 1, "F s1 mb0")[0];
  json recv = completeEvents(trace, 1, "recv from 0 tag 0")[0];
  auto end = [](const json &e) {
    return e["ts"].get<double>() + e["dur"].get<double>();
  };
  EXPECT_LE(pair["ts"].get<double>(), inner["ts"].get<double>());
  EXPECT_LE(inner["ts"].get<double>(), recv["ts"].get<double>());
  EXPECT_LE(end(recv), end(inner));
  EXPECT_LE(end(inner), end(pair));
  EXPECT_EQ(recv["args"]["bytes"], 32);

  ASSERT_EQ(completeEvents(trace, 0, "send to 1 tag 1").size(), 1u);
  EXPECT_EQ(completeEvents(trace, 0, "barrier").size(), 1u);
  EXPECT_EQ(completeEvents(trace, 1, "barrier").size(), 1u);
  EXPECT_EQ(trace["otherData"]["backend"], "local");
  EXPECT_EQ(trace["otherData"]["world_size"], 2);
  EXPECT_FALSE(trace["otherData"].contains("error"));
}

TEST(Trace, FailureShowsInTheTrace) {
  WorldPtr world = makeWorld(2, 0.2);
  runRanks(world.get(), [](int32_t rank) {
    if (rank == 1) {
      dualpipe_rt_begin_action(DUALPIPE_ACTION_B, 1, 4);
      double value;
      EXPECT_NE(dualpipe_rt_recv(0, 3, &value, sizeof value), 0);
      // No end_action: unbind closes it, marked unfinished.
    }
  });
  std::string dir = makeTempDir();
  std::string path = dir + "/trace.json";
  ASSERT_EQ(dualpipe_world_write_trace(world.get(), path.c_str()), 0)
      << lastError();
  json trace = readJson(path);
  std::string error = worldError(world.get());
  EXPECT_EQ(trace["otherData"]["error"], error);
  bool sawErrorEvent = false;
  for (const json &e : trace["traceEvents"])
    if (e["ph"] == "i" && e["pid"] == 1 && e["args"]["message"] == error)
      sawErrorEvent = true;
  EXPECT_TRUE(sawErrorEvent);
  auto backward = completeEvents(trace, 1, "B s1 mb4");
  ASSERT_EQ(backward.size(), 1u);
  EXPECT_EQ(backward[0]["args"]["unfinished"], true);
  auto recv = completeEvents(trace, 1, "recv from 0 tag 3");
  ASSERT_EQ(recv.size(), 1u);
  EXPECT_EQ(recv[0]["args"]["failed"], true);
  EXPECT_GE(recv[0]["dur"].get<double>(), 190000.0) << "waited 0.2 s";
}

TEST(Trace, KeepsAtMostTheLimitPerRank) {
  WorldPtr world = makeWorld(2);
  ASSERT_EQ(dualpipe_world_set_trace_limit(world.get(), 3), 0);
  runRanks(world.get(), [](int32_t rank) {
    for (int32_t mb = 0; mb < 10; ++mb) {
      dualpipe_rt_begin_action(DUALPIPE_ACTION_W, rank, mb);
      dualpipe_rt_end_action();
    }
  });
  std::string path = makeTempDir() + "/trace.json";
  ASSERT_EQ(dualpipe_world_write_trace(world.get(), path.c_str()), 0);
  json trace = readJson(path);
  EXPECT_EQ(completeEvents(trace, 0, "W s0 mb2").size(), 1u);
  EXPECT_EQ(completeEvents(trace, 0, "W s0 mb3").size(), 0u);
  EXPECT_EQ(trace["otherData"]["dropped_events"], 14);
}

TEST(Trace, ReplacesAnExistingFileAndReportsBadPaths) {
  WorldPtr world = makeWorld(1);
  std::string dir = makeTempDir();
  std::string path = dir + "/trace.json";
  { std::ofstream(path) << "old contents"; }
  ASSERT_EQ(dualpipe_world_write_trace(world.get(), path.c_str()), 0);
  EXPECT_TRUE(readJson(path)["traceEvents"].is_array());

  std::string missing = dir + "/no/such/folder/trace.json";
  EXPECT_NE(dualpipe_world_write_trace(world.get(), missing.c_str()), 0);
  EXPECT_EQ(lastError().rfind("cannot write '" + missing + "' (creating " +
                                  missing + ".tmp.",
                              0),
            0u)
      << lastError();
  EXPECT_NE(lastError().find("No such file or directory"), std::string::npos);
}

} // namespace
