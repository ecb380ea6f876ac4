//===- MpiTransportTest.cpp - the mpi transport, run under mpirun ---------===//
//
// One process per rank (mpirun -np 3). Each case makes a fresh MPI world,
// binds this process's main thread to its rank, runs, and checks what the
// runtime says. Prints "ok <case>" per passing case (on rank 0) and exits
// non-zero if any check failed on any rank.
//
//===----------------------------------------------------------------------===//

#include "dualpipe/Runtime/Runtime.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

int failures = 0;
int32_t me = -1;

#define EXPECT(cond, ...)                                                      \
  do {                                                                         \
    if (!(cond)) {                                                             \
      ++failures;                                                              \
      std::fprintf(stderr, "rank %d: %s:%d: check failed: %s: ", me,          \
                   __FILE__, __LINE__, #cond);                                 \
      std::fprintf(stderr, __VA_ARGS__);                                       \
      std::fprintf(stderr, "\n");                                              \
    }                                                                          \
  } while (0)

std::string lastError() {
  const char *e = dualpipe_rt_last_error();
  return e ? e : "";
}

bool contains(const std::string &text, const std::string &part) {
  return text.find(part) != std::string::npos;
}

double secondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                       start)
      .count();
}

/// A fresh world of all processes (group 0) or of groups, bound on this
/// thread; returns it (the caller unbinds and destroys).
dualpipe_world *open(double timeout, int32_t group = 0) {
  dualpipe_world *world = dualpipe_world_create_mpi_group(group, timeout);
  if (!world) {
    std::fprintf(stderr, "cannot create the MPI world: %s\n",
                 lastError().c_str());
    dualpipe_mpi_abort(2);
  }
  if (dualpipe_rt_bind(world, dualpipe_world_hosted_rank(world)) != 0) {
    std::fprintf(stderr, "cannot bind: %s\n", lastError().c_str());
    dualpipe_mpi_abort(2);
  }
  return world;
}

void close(dualpipe_world *world) {
  dualpipe_rt_unbind();
  dualpipe_world_destroy(world);
}

void passed(const char *name) {
  if (me == 0)
    std::printf("ok %s\n", name);
  std::fflush(stdout);
}

void pingPongAndFifo() {
  dualpipe_world *world = open(10.0);
  int32_t rank = dualpipe_rt_rank(), size = dualpipe_rt_size();
  // A ring: every rank sends 200 messages of growing size to the next, then
  // receives the previous one's, in order.
  int32_t next = (rank + 1) % size, prev = (rank + size - 1) % size;
  for (int i = 0; i < 200; ++i) {
    std::vector<int32_t> payload(1 + i % 13, rank * 1000 + i);
    EXPECT(dualpipe_rt_send(next, 7, payload.data(),
                            payload.size() * sizeof(int32_t)) == 0,
           "%s", lastError().c_str());
  }
  for (int i = 0; i < 200; ++i) {
    std::vector<int32_t> got(1 + i % 13, -1);
    EXPECT(dualpipe_rt_recv(prev, 7, got.data(),
                            got.size() * sizeof(int32_t)) == 0,
           "%s", lastError().c_str());
    EXPECT(got[0] == prev * 1000 + i && got.back() == prev * 1000 + i,
           "message %d out of order (got %d)", i, got[0]);
  }
  // Tags match separately: rank 0 sends tag 1 then tag 2 to rank 1, which
  // receives them in the other order.
  if (rank == 0) {
    int32_t a = 11, b = 22;
    dualpipe_rt_send(1, 1, &a, sizeof a);
    dualpipe_rt_send(1, 2, &b, sizeof b);
  } else if (rank == 1) {
    int32_t a = 0, b = 0;
    EXPECT(dualpipe_rt_recv(0, 2, &b, sizeof b) == 0, "%s", lastError().c_str());
    EXPECT(dualpipe_rt_recv(0, 1, &a, sizeof a) == 0, "%s", lastError().c_str());
    EXPECT(a == 11 && b == 22, "tags crossed: %d %d", a, b);
  }
  EXPECT(dualpipe_rt_barrier() == 0, "%s", lastError().c_str());
  EXPECT(!dualpipe_world_failed(world), "%s", dualpipe_world_error(world));
  close(world);
  passed("ping-pong, FIFO ring and tags");
}

void allReduceIsOrderedAndExact() {
  dualpipe_world *world = open(10.0);
  int32_t rank = dualpipe_rt_rank(), size = dualpipe_rt_size();
  // Values whose float sum depends on the order: the result must be the
  // ascending-rank-order sum on every rank, bitwise.
  std::vector<float> data(1000);
  for (size_t i = 0; i < data.size(); ++i)
    data[i] = (rank % 2 ? 1e8f : 1.0f) * (1.0f + 0.001f * i) / (rank + 1);
  std::vector<float> want(data.size(), 0.0f);
  for (size_t i = 0; i < data.size(); ++i) {
    float sum = 0;
    for (int32_t r = 0; r < size; ++r) {
      float v = (r % 2 ? 1e8f : 1.0f) * (1.0f + 0.001f * i) / (r + 1);
      sum = r == 0 ? v : sum + v;
    }
    want[i] = sum;
  }
  std::vector<int32_t> all;
  for (int32_t r = size - 1; r >= 0; --r)
    all.push_back(r); // any order
  EXPECT(dualpipe_rt_allreduce_sum_f32(data.data(), data.size(), all.data(),
                                       all.size()) == 0,
         "%s", lastError().c_str());
  EXPECT(std::memcmp(data.data(), want.data(), data.size() * sizeof(float)) ==
             0,
         "the sum is not the ascending-rank-order sum");
  // A sub-group {0, size-1} in f64, while the others skip it.
  if (rank == 0 || rank == size - 1) {
    int32_t pair[2] = {size - 1, 0};
    double v[3] = {1.0 + rank, 2.0, -0.5 * rank};
    EXPECT(dualpipe_rt_allreduce_sum_f64(v, 3, pair, 2) == 0, "%s",
           lastError().c_str());
    EXPECT(v[0] == 2.0 + (size - 1) && v[1] == 4.0 &&
               v[2] == -0.5 * (size - 1),
           "pair sum wrong: %g %g %g", v[0], v[1], v[2]);
  }
  EXPECT(dualpipe_rt_barrier() == 0, "%s", lastError().c_str());
  close(world);
  passed("all-reduce: ascending rank order, bitwise equal, sub-groups");
}

void groupsNumberTheirRanksFromZero() {
  // Two groups of (size / 2)... with 3 processes use groups of 1 and check
  // only numbering; with an even size, groups of 2 talk inside themselves.
  dualpipe_world *all = dualpipe_world_create_mpi(10.0);
  int32_t global = dualpipe_world_hosted_rank(all), size = dualpipe_world_size(all);
  dualpipe_world_destroy(all);
  int32_t group = size % 2 == 0 ? 2 : 1;
  dualpipe_world *world = open(10.0, group);
  EXPECT(dualpipe_world_size(world) == group, "group size %d",
         dualpipe_world_size(world));
  EXPECT(dualpipe_rt_rank() == global % group, "rank %d in its group",
         dualpipe_rt_rank());
  if (group == 2) {
    int32_t mine = global, theirs = -1;
    int32_t peer = 1 - dualpipe_rt_rank();
    dualpipe_rt_send(peer, 0, &mine, sizeof mine);
    EXPECT(dualpipe_rt_recv(peer, 0, &theirs, sizeof theirs) == 0, "%s",
           lastError().c_str());
    EXPECT(theirs == (global ^ 1), "got %d from the group", theirs);
  }
  // Binding to a rank of another process is refused.
  close(world);
  world = dualpipe_world_create_mpi(10.0);
  int32_t other = (dualpipe_world_hosted_rank(world) + 1) % size;
  if (size > 1) {
    EXPECT(dualpipe_rt_bind(world, other) != 0, "bound to another process");
    EXPECT(contains(lastError(), "runs in another process"), "%s",
           lastError().c_str());
  }
  dualpipe_world_destroy(world);
  passed("groups: consecutive ranks numbered from 0; foreign ranks refused");
}

void timeoutNamesRankPeerTagAndAction() {
  dualpipe_world *world = open(0.5);
  int32_t rank = dualpipe_rt_rank();
  auto start = std::chrono::steady_clock::now();
  if (rank == 1) {
    // Rank 0 never sends tag 9: the receive times out with the usual words.
    int32_t v = 0;
    dualpipe_rt_begin_action(DUALPIPE_ACTION_F, 1, 3);
    EXPECT(dualpipe_rt_recv(0, 9, &v, sizeof v) != 0, "the receive succeeded");
    dualpipe_rt_end_action();
    std::string error = lastError();
    EXPECT(contains(error, "rank 1: receive from rank 0 (tag 9) during F of "
                           "stage 1, micro-batch 3 timed out after 0.5 s"),
           "%s", error.c_str());
    EXPECT(secondsSince(start) < 3.0, "took %.2f s", secondsSince(start));
  } else {
    // The others learn of rank 1's failure from its notice, not by timing
    // out themselves: their wait (timeout 0.5 s, but a 30 s wait would end
    // just as soon) ends abandoned with rank 1's message.
    // They start waiting 0.3 s after rank 1, so rank 1 times out first.
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    int32_t v = 0;
    int32_t from = rank == 0 ? 2 % dualpipe_rt_size() : 0;
    if (from == rank)
      from = 1;
    dualpipe_rt_begin_action(DUALPIPE_ACTION_B, 0, 5);
    EXPECT(dualpipe_rt_recv(from, 4, &v, sizeof v) != 0, "the receive succeeded");
    dualpipe_rt_end_action();
    std::string error = lastError();
    // Either this rank timed out first or rank 1's notice came in.
    EXPECT(contains(error, "timed out after 0.5 s") ||
               contains(error, "abandoned because the world failed: rank 1: "
                               "receive from rank 0 (tag 9)"),
           "%s", error.c_str());
  }
  EXPECT(dualpipe_world_failed(world), "the world did not fail");
  close(world);
  passed("receive timeout names rank, peer, tag and action");
}

void failureIsStickyAcrossProcesses() {
  // Timeout 30 s: the others must not wait it out, rank 0's notice ends
  // their waits within a fraction of it.
  dualpipe_world *world = open(30.0);
  int32_t rank = dualpipe_rt_rank();
  auto start = std::chrono::steady_clock::now();
  if (rank == 0) {
    dualpipe_rt_begin_action(DUALPIPE_ACTION_W, 2, 7);
    dualpipe_rt_fail("kernel reported NaN");
    dualpipe_rt_end_action();
  } else {
    int32_t v = 0;
    EXPECT(dualpipe_rt_recv(0, 3, &v, sizeof v) != 0, "the receive succeeded");
    std::string error = lastError();
    EXPECT(contains(error, "rank " + std::to_string(rank) +
                               ": receive from rank 0 (tag 3) abandoned "
                               "because the world failed: rank 0: kernel "
                               "reported NaN"),
           "%s", error.c_str());
    EXPECT(dualpipe_world_failed_rank(world) == 0, "failed rank %d",
           dualpipe_world_failed_rank(world));
    EXPECT(secondsSince(start) < 10.0, "took %.2f s", secondsSince(start));
    // Sticky: later calls fail at once.
    EXPECT(dualpipe_rt_barrier() != 0, "barrier after failure succeeded");
  }
  close(world);
  passed("a failure on one process fails the others' worlds (sticky)");
}

void sizeMismatchIsReported() {
  dualpipe_world *world = open(5.0);
  int32_t rank = dualpipe_rt_rank();
  if (rank == 0) {
    float f[4] = {1, 2, 3, 4};
    dualpipe_rt_send(1, 5, f, sizeof f);
  } else if (rank == 1) {
    float f[3] = {9, 9, 9};
    EXPECT(dualpipe_rt_recv(0, 5, f, sizeof f) != 0, "a short receive passed");
    EXPECT(contains(lastError(), "rank 1: receive from rank 0 (tag 5): the "
                                 "receive is for 12 bytes but the matching "
                                 "send has 16 bytes"),
           "%s", lastError().c_str());
    EXPECT(f[0] == 0 && f[2] == 0, "the buffer was not zero-filled");
  }
  close(world);
  passed("a size mismatch names both sizes");
}

/// Rank 1 posts a receive of 8 MB (past MPI's eager limit: it needs the
/// transport's progress) and computes without calling the runtime; rank 0
/// sends once told the receive is posted. The bytes must land during the
/// compute, and the summary must count the whole transfer as hidden.
void postedReceiveCompletesWhileComputing() {
  dualpipe_world *world = open(20.0);
  int32_t rank = dualpipe_rt_rank();
  const size_t n = 2 << 20;
  if (rank == 0) {
    int32_t ready = 0;
    EXPECT(dualpipe_rt_recv(1, 1, &ready, sizeof ready) == 0, "%s",
           lastError().c_str());
    std::vector<float> data(n);
    for (size_t i = 0; i < n; ++i)
      data[i] = float(i % 1000);
    EXPECT(dualpipe_rt_send(1, 2, data.data(), n * 4) == 0, "%s",
           lastError().c_str());
  } else if (rank == 1) {
    std::vector<float> buffer(n, -1.0f);
    int64_t request = dualpipe_rt_irecv(0, 2, buffer.data(), n * 4);
    EXPECT(request >= 0, "%s", lastError().c_str());
    dualpipe_rt_begin_action(DUALPIPE_ACTION_F, 0, 0);
    int32_t ready = 1;
    EXPECT(dualpipe_rt_send(0, 1, &ready, sizeof ready) == 0, "%s",
           lastError().c_str());
    // "Compute": no runtime call until the last element is there (or 10 s).
    auto start = std::chrono::steady_clock::now();
    volatile float *last = buffer.data() + n - 1;
    while (*last != float((n - 1) % 1000) && secondsSince(start) < 10.0)
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    bool landed = *last == float((n - 1) % 1000);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    dualpipe_rt_end_action();
    EXPECT(landed, "the posted receive did not complete while rank 1 "
                   "computed (no progress without runtime calls)");
    EXPECT(dualpipe_rt_wait(request) == 0, "%s", lastError().c_str());
    EXPECT(buffer[12345] == float(12345 % 1000), "wrong data");
    dualpipe_comm_summary c{};
    EXPECT(dualpipe_world_comm_summary(world, 1, &c) == 0, "%s",
           lastError().c_str());
    EXPECT(c.messages == 1, "%lld timed messages", (long long)c.messages);
    EXPECT(c.transfer_ms > 0 && c.transfer_hidden_ms == c.transfer_ms,
           "in flight %.3f ms, hidden %.3f ms", c.transfer_ms,
           c.transfer_hidden_ms);
  }
  close(world);
  passed("a posted receive completes while its rank computes");
}

/// Started all-reduces match by tag, not order, and equal the blocking sum
/// bitwise (ascending rank order) on every process.
void startedAllReduceMatchesByTag() {
  dualpipe_world *world = open(10.0);
  int32_t rank = dualpipe_rt_rank(), size = dualpipe_rt_size();
  std::vector<int32_t> group(size);
  for (int32_t r = 0; r < size; ++r)
    group[r] = size - 1 - r;
  const size_t n = 300000; // past the eager limit
  std::vector<float> a(n), b(n / 3), blocking;
  for (size_t i = 0; i < n; ++i)
    a[i] = (rank == 0 ? 3e7f : rank == 1 ? -3e7f : 0.7f) * float(1 + i % 5) +
           0.01f * float(rank);
  for (size_t i = 0; i < b.size(); ++i)
    b[i] = float(rank + 1) * float(i % 11);
  blocking = a;
  EXPECT(dualpipe_rt_allreduce_sum_f32(blocking.data(), n, group.data(),
                                       size) == 0,
         "%s", lastError().c_str());
  int64_t ra = -1, rb = -1;
  if (rank % 2) {
    rb = dualpipe_rt_iallreduce_sum_f32(b.data(), b.size(), group.data(), size,
                                        4);
    ra = dualpipe_rt_iallreduce_sum_f32(a.data(), n, group.data(), size, 3);
  } else {
    ra = dualpipe_rt_iallreduce_sum_f32(a.data(), n, group.data(), size, 3);
    rb = dualpipe_rt_iallreduce_sum_f32(b.data(), b.size(), group.data(), size,
                                        4);
  }
  EXPECT(ra >= 0 && rb >= 0, "%s", lastError().c_str());
  EXPECT(dualpipe_rt_wait(rb) == 0, "%s", lastError().c_str());
  EXPECT(dualpipe_rt_wait(ra) == 0, "%s", lastError().c_str());
  EXPECT(std::memcmp(a.data(), blocking.data(), n * 4) == 0,
         "the started sum differs from the blocking one");
  float sum = 0;
  for (int32_t r = 0; r < size; ++r)
    sum += float(r + 1) * 10.0f;
  EXPECT(b[10] == sum, "b[10] = %g, want %g", b[10], sum);
  close(world);
  passed("started all-reduces match by tag and equal the blocking sum");
}

void postedReceiveSizeMismatchIsReported() {
  dualpipe_world *world = open(5.0);
  int32_t rank = dualpipe_rt_rank();
  if (rank == 0) {
    float f[4] = {1, 2, 3, 4};
    dualpipe_rt_send(1, 6, f, sizeof f);
  } else if (rank == 1) {
    float f[3] = {9, 9, 9};
    int64_t request = dualpipe_rt_irecv(0, 6, f, sizeof f);
    EXPECT(request >= 0, "%s", lastError().c_str());
    EXPECT(dualpipe_rt_wait(request) != 0, "a short posted receive passed");
    EXPECT(contains(lastError(), "rank 1: receive from rank 0 (tag 6): the "
                                 "matching send is larger than the 12 bytes "
                                 "posted"),
           "%s", lastError().c_str());
    EXPECT(f[0] == 0 && f[2] == 0, "the buffer was not zero-filled");
  }
  close(world);
  passed("a posted receive names a size mismatch");
}

} // namespace

int main() {
  if (!dualpipe_rt_has_backend("mpi")) {
    std::printf("the runtime was built without MPI\n");
    return 77;
  }
  dualpipe_world *probe = dualpipe_world_create_mpi(10.0);
  if (!probe) {
    std::fprintf(stderr, "%s\n", lastError().c_str());
    return 1;
  }
  me = dualpipe_world_hosted_rank(probe);
  int32_t size = dualpipe_world_size(probe);
  dualpipe_world_destroy(probe);
  if (size < 3) {
    std::fprintf(stderr, "run me with mpirun -np 3 or more\n");
    dualpipe_mpi_finalize();
    return 1;
  }
  pingPongAndFifo();
  allReduceIsOrderedAndExact();
  groupsNumberTheirRanksFromZero();
  sizeMismatchIsReported();
  postedReceiveCompletesWhileComputing();
  postedReceiveSizeMismatchIsReported();
  startedAllReduceMatchesByTag();
  timeoutNamesRankPeerTagAndAction();
  failureIsStickyAcrossProcesses();
  dualpipe_mpi_finalize();
  if (failures)
    std::fprintf(stderr, "rank %d: %d check(s) failed\n", me, failures);
  return failures ? 1 : 0;
}
