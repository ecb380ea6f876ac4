//===- FilesTest.cpp - Atomic replacement, killed writers, leftovers ------===//

#include "dualpipe/Runtime/Files.h"
#include "dualpipe/Runtime/SafeTensors.h"

#include "RuntimeTestUtil.h"

#include <dirent.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>

using namespace dualpipe;
using namespace dualpipe::test;

namespace {

std::vector<std::string> listDir(const std::string &dir) {
  std::vector<std::string> names;
  if (DIR *d = opendir(dir.c_str())) {
    while (dirent *entry = readdir(d))
      if (entry->d_name[0] != '.')
        names.push_back(entry->d_name);
    closedir(d);
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::string readAll(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

/// A pid no process has: a child that has exited and been reaped.
pid_t deadPid() {
  pid_t child = fork();
  if (child == 0)
    _exit(0);
  waitpid(child, nullptr, 0);
  return child;
}

TEST(Files, ReplacesAtomicallyAndLeavesNothing) {
  std::string dir = makeTempDir(), path = dir + "/ck.bin";
  ASSERT_EQ(rt::writeFileAtomically(path, "first"), "");
  ASSERT_EQ(rt::writeFileAtomically(path, "second, longer"), "");
  EXPECT_EQ(readAll(path), "second, longer");
  EXPECT_EQ(listDir(dir), std::vector<std::string>{"ck.bin"});
  // A folder that does not exist: an error, not a crash.
  EXPECT_NE(rt::writeFileAtomically(dir + "/no/such/ck.bin", "x"), "");
}

TEST(Files, RemovesOnlyTemporariesOfDeadWriters) {
  std::string dir = makeTempDir(), path = dir + "/ck.safetensors";
  pid_t dead = deadPid();
  std::string stale = path + ".tmp." + std::to_string(dead) + ".3";
  std::string live = path + ".tmp." + std::to_string(getppid()) + ".0";
  std::string other = dir + "/other.tmp." + std::to_string(dead) + ".0";
  std::string odd = path + ".tmp.notapid";
  for (const std::string &p : {stale, live, other, odd})
    std::ofstream(p) << "x";
  std::vector<std::string> removed = rt::removeStaleTemporaries(path);
  ASSERT_EQ(removed.size(), 1u);
  EXPECT_EQ(removed[0], stale);
  EXPECT_EQ(listDir(dir).size(), 3u); // live, other, odd stay
  EXPECT_TRUE(rt::removeStaleTemporaries(dir + "/none/ck").empty());
}

/// The checkpoint crash test: a child saves in a loop (every save another
/// size, tagged with its number) and is killed with SIGKILL at a random
/// moment, 20 times; the file under its final name is always one whole
/// save, and after removeStaleTemporaries no temporary is left. `named`:
/// the child writes without O_TMPFILE (DUALPIPE_ATOMIC_NAMED), as on file
/// systems without it.
void killDuringSaves(bool named) {
  std::string dir = makeTempDir(), path = dir + "/ck.safetensors";
  std::mt19937 random(12345);
  int killedWhileWriting = 0;
  for (int round = 0; round < 20; ++round) {
    pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      if (named)
        setenv("DUALPIPE_ATOMIC_NAMED", "1", 1);
      for (int save = 0;; ++save) {
        safetensors::TensorFile file;
        std::vector<float> values((1 << 18) + save * 4096, float(save));
        file.tensors["w"] = safetensors::Tensor::f32(
            {int64_t(values.size())}, values.data());
        file.metadata["step"] = std::to_string(save);
        if (!safetensors::writeSafeTensors(path, file).empty())
          _exit(1);
      }
    }
    std::this_thread::sleep_for(
        std::chrono::microseconds(2000 + random() % 60000));
    kill(child, SIGKILL);
    int status = 0;
    waitpid(child, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status)) << "the writer failed on its own";
    std::vector<std::string> names = listDir(dir);
    killedWhileWriting += names.size() > 1;
    safetensors::TensorFile file;
    if (std::find(names.begin(), names.end(), "ck.safetensors") ==
        names.end())
      continue; // killed before its first save ended: nothing to check
    ASSERT_EQ(safetensors::readSafeTensors(path, file), "")
        << "round " << round;
    int64_t save = std::stoll(file.metadata.at("step"));
    const safetensors::Tensor &w = file.tensors.at("w");
    ASSERT_EQ(w.numElements(), (1 << 18) + save * 4096);
    float last;
    std::memcpy(&last, w.bytes.data() + w.bytes.size() - 4, 4);
    EXPECT_EQ(last, float(save));
    rt::removeStaleTemporaries(path);
    EXPECT_EQ(listDir(dir), std::vector<std::string>{"ck.safetensors"})
        << "round " << round;
  }
  // With O_TMPFILE a killed writer leaves no name at all (but for the two
  // calls between naming and renaming); the count is informative only.
  std::printf("[ info ] %s: temporaries left by a kill: %d of 20\n",
              named ? "named temporaries" : "O_TMPFILE", killedWhileWriting);
}

TEST(Files, KillNineDuringSavesNeverLeavesAPartialCheckpoint) {
  killDuringSaves(/*named=*/false);
}

TEST(Files, KillNineDuringNamedSavesLeavesOnlyWhatTheNextStartRemoves) {
  killDuringSaves(/*named=*/true);
}

} // namespace
