//===- Comms.cpp - A compute-only schedule lowered as torch lowers it -----===//
//
// withPyTorchComms() follows torch.distributed.pipelining's lowering of a
// compute-only schedule to its compute+comms form
// (_PipelineScheduleRuntime._prepare_schedule_with_comms): FSDP unshard /
// reshard of the next few stages, a gradient reduction after each stage's
// last backward, then sends and receives placed by walking every rank in
// lock-step. The CSV of the result is what torch's _dump_csv writes for the
// same compute actions.
//
//===----------------------------------------------------------------------===//

#include "dualpipe/Schedule/Validator.h"

#include <algorithm>
#include <deque>
#include <set>
#include <tuple>

namespace dualpipe::sched {

namespace {

/// One entry of a rank's lowered program: a compute action (by index) or a
/// non-compute one.
struct Item {
  int compute = -1;
  CommAction comm;
};

/// How many distinct stages FSDP keeps unsharded at once (torch's
/// max_active_stages).
constexpr int kActiveStages = 3;

/// The first `count` distinct stages the actions from `from` on compute on.
std::vector<int> nextStages(const std::vector<Action> &actions, size_t from, int count) {
  std::vector<int> out;
  for (size_t i = from; i < actions.size(); ++i) {
    const Action &a = actions[i];
    for (int p = 0; p < a.numParts(); ++p) {
      int st = a.part(p).stage;
      if (std::find(out.begin(), out.end(), st) == out.end())
        out.push_back(st);
    }
    if (static_cast<int>(out.size()) >= count)
      break;
  }
  if (static_cast<int>(out.size()) > count)
    out.resize(count);
  return out;
}

/// UNSHARD before a stage is among the next three computed on, RESHARD
/// once it is not (and at the end), as torch's _add_unshard_reshard;
/// torch evicts in its set's iteration order, ascending stages here.
std::vector<Item> unshardReshard(const std::vector<Action> &actions) {
  std::vector<Item> out;
  std::set<int> active;
  for (size_t i = 0; i < actions.size(); ++i) {
    std::vector<int> next = nextStages(actions, i, kActiveStages);
    std::vector<int> evict;
    for (int st : active)
      if (std::find(next.begin(), next.end(), st) == next.end())
        evict.push_back(st);
    for (int st : evict) {
      active.erase(st);
      out.push_back({-1, {CommKind::Reshard, st, -1, 0}});
    }
    for (int st : next)
      if (active.insert(st).second)
        out.push_back({-1, {CommKind::Unshard, st, -1, 0}});
    out.push_back({static_cast<int>(i), {}});
  }
  for (int st : active)
    out.push_back({-1, {CommKind::Reshard, st, -1, 0}});
  return out;
}

/// REDUCE_GRAD right after the action that runs a stage's last B or W
/// (torch's _add_reduce_grad counts both).
std::vector<Item> reduceGrad(const Schedule &s, const std::vector<Action> &actions,
                             const std::vector<Item> &items) {
  std::vector<int> perStage(s.numStages, 0);
  for (const Pipeline &pl : s.pipelines)
    for (int st : pl.stages)
      perStage[st] = pl.numMicrobatches;
  std::vector<int> count(s.numStages, 0);
  std::vector<Item> out;
  for (const Item &it : items) {
    out.push_back(it);
    if (it.compute < 0)
      continue;
    const Action &a = actions[it.compute];
    for (int p = 0; p < a.numParts(); ++p) {
      Action part = a.part(p);
      if (part.kind != ActionKind::Backward && part.kind != ActionKind::BackwardWeight)
        continue;
      if (++count[part.stage] == perStage[part.stage])
        out.push_back({-1, {CommKind::ReduceGrad, part.stage, -1, 0}});
    }
  }
  return out;
}

} // namespace

Expected<Schedule> withPyTorchComms(const Schedule &s) {
  const int n = s.numRanks;
  const std::vector<StageLinks> links = stageLinks(s);
  std::vector<std::deque<Item>> queue(n);
  for (int r = 0; r < n; ++r) {
    std::vector<Item> items = reduceGrad(s, s.ranks[r], unshardReshard(s.ranks[r]));
    queue[r].assign(items.begin(), items.end());
  }
  // What each rank has issued: (kind, stage, micro-batch), kind an
  // ActionKind or 10 + CommKind.
  using Key = std::tuple<int, int, int>;
  auto commKey = [](CommKind k, int st, int mb) {
    return Key{10 + static_cast<int>(k), st, mb};
  };
  auto computeKey = [](ActionKind k, int st, int mb) {
    return Key{static_cast<int>(k), st, mb};
  };
  std::vector<std::set<Key>> done(n);
  std::vector<std::vector<Item>> out(n);
  auto ready = [&](int r, const Action &part) {
    const StageLinks &l = links[part.stage];
    const int mb = part.microbatch;
    switch (part.kind) {
    case ActionKind::Forward:
      return l.prev < 0 || done[r].count(commKey(CommKind::RecvF, part.stage, mb)) ||
             done[r].count(computeKey(ActionKind::Forward, l.prev, mb));
    case ActionKind::Backward:
    case ActionKind::BackwardInput:
      return l.next < 0 || done[r].count(commKey(CommKind::RecvB, part.stage, mb)) ||
             done[r].count(computeKey(ActionKind::BackwardInput, l.next, mb)) ||
             done[r].count(computeKey(ActionKind::Backward, l.next, mb));
    default:
      return true;
    }
  };
  auto remaining = [&] {
    for (const auto &q : queue)
      if (!q.empty())
        return true;
    return false;
  };
  while (remaining()) {
    bool progress = false;
    for (int r = 0; r < n; ++r) {
      if (queue[r].empty())
        continue;
      Item it = queue[r].front();
      if (it.compute >= 0) {
        const Action &a = s.ranks[r][it.compute];
        bool ok = true;
        for (int p = 0; p < a.numParts(); ++p)
          ok = ok && ready(r, a.part(p));
        if (!ok)
          continue;
        out[r].push_back(it);
        for (int p = 0; p < a.numParts(); ++p) {
          Action part = a.part(p);
          done[r].insert(computeKey(part.kind, part.stage, part.microbatch));
          const StageLinks &l = links[part.stage];
          bool fwd = part.kind == ActionKind::Forward;
          bool bwd = part.kind == ActionKind::Backward || part.kind == ActionKind::BackwardInput;
          int peer = fwd ? l.next : bwd ? l.prev : -1;
          if (peer < 0 || s.stageToRank[peer] == r)
            continue;
          CommKind send = fwd ? CommKind::SendF : CommKind::SendB;
          CommKind recv = fwd ? CommKind::RecvF : CommKind::RecvB;
          int to = s.stageToRank[peer];
          out[r].push_back({-1, {send, part.stage, part.microbatch, 0}});
          done[r].insert(commKey(send, part.stage, part.microbatch));
          out[to].push_back({-1, {recv, peer, part.microbatch, 0}});
          done[to].insert(commKey(recv, peer, part.microbatch));
        }
      } else {
        out[r].push_back(it);
        done[r].insert(commKey(it.comm.kind, it.comm.stage, it.comm.microbatch));
      }
      queue[r].pop_front();
      progress = true;
    }
    if (!progress) {
      std::string next;
      for (int r = 0; r < n; ++r)
        if (!queue[r].empty() && queue[r].front().compute >= 0)
          next += (next.empty() ? "" : ", ") + std::string("rank ") + std::to_string(r) +
                  " at " + formatAction(s.ranks[r][queue[r].front().compute]);
      return Error{"torch's lowering cannot place the sends and receives: every rank "
                   "waits for an input no rank can send (" + next + ")"};
    }
  }
  Schedule lowered = s;
  lowered.comms.assign(n, {});
  for (int r = 0; r < n; ++r) {
    int computed = 0;
    for (const Item &it : out[r]) {
      if (it.compute >= 0) {
        ++computed;
        continue;
      }
      CommAction c = it.comm;
      c.before = computed;
      lowered.comms[r].push_back(c);
    }
  }
  return lowered;
}

} // namespace dualpipe::sched
