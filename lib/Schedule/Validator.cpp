//===- Validator.cpp - Schedule validity, FIFO links and deadlock ---------===//

#include "dualpipe/Schedule/Validator.h"

#include <algorithm>
#include <cassert>
#include <deque>
#include <map>
#include <queue>
#include <set>
#include <tuple>

namespace dualpipe::sched {

namespace {

std::string str(int v) { return std::to_string(v); }

std::string eventName(const Event &e) {
  return str(e.stage) + (e.backward ? "B/I" : "F") + str(e.microbatch);
}

bool isBackwardKind(ActionKind k) {
  return k == ActionKind::Backward || k == ActionKind::BackwardInput;
}

/// Flat index of (stage, micro-batch).
struct Keys {
  int numMicrobatches;
  size_t operator()(int stage, int mb) const {
    return static_cast<size_t>(stage) * numMicrobatches + mb;
  }
};

struct Loc {
  int rank = -1;
  int index = -1;
  bool valid() const { return rank >= 0; }
};

//===--------------------------------------------------------------------===//
// Check 1: structure and placement
//===--------------------------------------------------------------------===//

void checkStructure(const Schedule &s, std::vector<Diagnostic> &errs) {
  if (s.numRanks < 1)
    errs.push_back({-1, -1, "the schedule has no ranks"});
  if (s.numMicrobatches < 1)
    errs.push_back({-1, -1, "the schedule has no micro-batches"});
  if (static_cast<int>(s.ranks.size()) != s.numRanks)
    errs.push_back({-1, -1,
                    "the schedule says " + str(s.numRanks) + " ranks but lists " +
                        str(static_cast<int>(s.ranks.size()))});
  if (static_cast<int>(s.stageToRank.size()) != s.numStages)
    errs.push_back({-1, -1,
                    "the placement lists " + str(static_cast<int>(s.stageToRank.size())) +
                        " stages but the schedule has " + str(s.numStages)});
  if (!errs.empty())
    return;
  for (int st = 0; st < s.numStages; ++st)
    if (s.stageToRank[st] < 0 || s.stageToRank[st] >= s.numRanks)
      errs.push_back({-1, -1,
                      "stage " + str(st) + " is placed on rank " +
                          str(s.stageToRank[st]) + ", which does not exist"});
  std::vector<int> pipelineOf(s.numStages, -1);
  for (size_t p = 0; p < s.pipelines.size(); ++p) {
    const Pipeline &pl = s.pipelines[p];
    if (pl.firstMicrobatch < 0 || pl.numMicrobatches < 0 ||
        pl.firstMicrobatch + pl.numMicrobatches > s.numMicrobatches)
      errs.push_back({-1, -1,
                      "pipeline " + str(static_cast<int>(p)) +
                          " carries micro-batches outside 0.." +
                          str(s.numMicrobatches - 1)});
    for (int st : pl.stages) {
      if (st < 0 || st >= s.numStages) {
        errs.push_back({-1, -1,
                        "pipeline " + str(static_cast<int>(p)) + " names stage " +
                            str(st) + ", which does not exist"});
        continue;
      }
      if (pipelineOf[st] >= 0)
        errs.push_back({-1, -1,
                        "stage " + str(st) + " belongs to two pipelines (" +
                            str(pipelineOf[st]) + " and " + str(static_cast<int>(p)) +
                            ")"});
      pipelineOf[st] = static_cast<int>(p);
    }
  }
  for (int st = 0; st < s.numStages; ++st)
    if (pipelineOf[st] < 0)
      errs.push_back({-1, -1, "stage " + str(st) + " belongs to no pipeline"});
  if (!errs.empty())
    return;

  for (int r = 0; r < s.numRanks; ++r) {
    const auto &acts = s.ranks[r];
    for (int i = 0; i < static_cast<int>(acts.size()); ++i) {
      const Action &a = acts[i];
      if (a.isPair() && a.stage == a.bStage)
        errs.push_back({r, i, "an overlapped pair must combine two different chunks"});
      for (int p = 0; p < a.numParts(); ++p) {
        Action part = a.part(p);
        if (part.stage < 0 || part.stage >= s.numStages) {
          errs.push_back({r, i,
                          "stage " + str(part.stage) + " does not exist (the schedule has " +
                              str(s.numStages) + " stages)"});
          continue;
        }
        if (part.microbatch < 0 || part.microbatch >= s.numMicrobatches) {
          errs.push_back({r, i,
                          "micro-batch " + str(part.microbatch) +
                              " does not exist (the schedule has " +
                              str(s.numMicrobatches) + ")"});
          continue;
        }
        if (s.stageToRank[part.stage] != r) {
          errs.push_back({r, i,
                          "stage " + str(part.stage) + " is placed on rank " +
                              str(s.stageToRank[part.stage]) + ", not on rank " + str(r) +
                              " (one placement per stage)"});
          continue;
        }
        const Pipeline &pl = s.pipelines[pipelineOf[part.stage]];
        if (!pl.hasMicrobatch(part.microbatch))
          errs.push_back({r, i,
                          "micro-batch " + str(part.microbatch) +
                              " does not flow through stage " + str(part.stage) +
                              " (its pipeline carries micro-batches " +
                              str(pl.firstMicrobatch) + ".." +
                              str(pl.firstMicrobatch + pl.numMicrobatches - 1) + ")"});
      }
    }
  }
}

//===--------------------------------------------------------------------===//
// Check 2: each (stage, micro-batch) gets F, then B or I then W, once
//===--------------------------------------------------------------------===//

void checkCompleteness(const Schedule &s, std::vector<Diagnostic> &errs) {
  Keys key{s.numMicrobatches};
  size_t total = static_cast<size_t>(s.numStages) * s.numMicrobatches;
  std::vector<Loc> fLoc(total), bLoc(total), iLoc(total), wLoc(total);
  auto setOnce = [&](std::vector<Loc> &locs, const Action &part, int r, int i,
                     const char *what) {
    Loc &l = locs[key(part.stage, part.microbatch)];
    if (l.valid()) {
      errs.push_back({r, i,
                      std::string("second ") + what + " of stage " + str(part.stage) +
                          " on micro-batch " + str(part.microbatch) +
                          " (the first is action " + str(l.index) + ")"});
      return;
    }
    l = {r, i};
  };
  for (int r = 0; r < s.numRanks; ++r) {
    for (int i = 0; i < static_cast<int>(s.ranks[r].size()); ++i) {
      const Action &a = s.ranks[r][i];
      for (int p = 0; p < a.numParts(); ++p) {
        Action part = a.part(p);
        switch (part.kind) {
        case ActionKind::Forward:
          setOnce(fLoc, part, r, i, "forward");
          break;
        case ActionKind::Backward:
          setOnce(bLoc, part, r, i, "backward");
          break;
        case ActionKind::BackwardInput:
          setOnce(iLoc, part, r, i, "input-gradient backward");
          break;
        case ActionKind::BackwardWeight:
          setOnce(wLoc, part, r, i, "weight-gradient backward");
          break;
        case ActionKind::OverlappedFB:
          break;
        }
      }
    }
  }
  if (!errs.empty())
    return;
  for (const Pipeline &pl : s.pipelines) {
    for (int st : pl.stages) {
      int owner = s.stageToRank[st];
      for (int mb = pl.firstMicrobatch; mb < pl.firstMicrobatch + pl.numMicrobatches;
           ++mb) {
        size_t k = key(st, mb);
        std::string sm = "stage " + str(st) + " micro-batch " + str(mb);
        const Loc &f = fLoc[k], &b = bLoc[k], &in = iLoc[k], &w = wLoc[k];
        if (!f.valid())
          errs.push_back({owner, -1, sm + " never runs its forward (" + str(st) + "F" +
                                         str(mb) + ")"});
        if (b.valid() && in.valid())
          errs.push_back({owner, in.index,
                          sm + " has both a full backward (action " + str(b.index) +
                              ") and an input-gradient backward"});
        if (!b.valid() && !in.valid())
          errs.push_back({owner, -1, sm + " never runs its backward (" + str(st) + "B" +
                                         str(mb) + " or " + str(st) + "I" + str(mb) + ")"});
        if (in.valid() && !w.valid())
          errs.push_back({owner, in.index,
                          sm + " defers weight work with I but never runs its W (" +
                              str(st) + "W" + str(mb) + ")"});
        if (w.valid() && !in.valid())
          errs.push_back({owner, w.index,
                          sm + " runs W without an earlier I (a full B already does "
                               "the weight work)"});
        if (f.valid() && b.valid() && b.index <= f.index)
          errs.push_back({owner, b.index,
                          "backward comes before its forward " + str(st) + "F" + str(mb) +
                              " (action " + str(f.index) + ")"});
        if (f.valid() && in.valid() && in.index <= f.index)
          errs.push_back({owner, in.index,
                          "input-gradient backward comes before its forward " + str(st) +
                              "F" + str(mb) + " (action " + str(f.index) + ")"});
        if (in.valid() && w.valid() && w.index <= in.index)
          errs.push_back({owner, w.index,
                          "W comes before its I " + str(st) + "I" + str(mb) + " (action " +
                              str(in.index) + ")"});
      }
    }
  }
}

//===--------------------------------------------------------------------===//
// Check 3: cross-stage dependencies can be met (sends never block)
//===--------------------------------------------------------------------===//

void checkDependencies(const Schedule &s, std::vector<Diagnostic> &errs) {
  const std::vector<StageLinks> links = stageLinks(s);
  Keys key{s.numMicrobatches};
  size_t total = static_cast<size_t>(s.numStages) * s.numMicrobatches;
  std::vector<char> doneF(total, 0), doneB(total, 0);
  std::vector<Loc> producer[2] = {std::vector<Loc>(total), std::vector<Loc>(total)};
  for (int r = 0; r < s.numRanks; ++r)
    for (int i = 0; i < static_cast<int>(s.ranks[r].size()); ++i) {
      const Action &a = s.ranks[r][i];
      for (int p = 0; p < a.numParts(); ++p) {
        Action part = a.part(p);
        if (part.kind == ActionKind::Forward)
          producer[0][key(part.stage, part.microbatch)] = {r, i};
        else if (isBackwardKind(part.kind))
          producer[1][key(part.stage, part.microbatch)] = {r, i};
      }
    }
  auto isDone = [&](const Event &e) {
    size_t k = key(e.stage, e.microbatch);
    return e.backward ? doneB[k] != 0 : doneF[k] != 0;
  };
  std::vector<int> next(s.numRanks, 0);
  // waiters[event] = ranks blocked on it.
  std::map<std::tuple<int, int, bool>, std::vector<int>> waiters;
  std::vector<int> work;
  for (int r = 0; r < s.numRanks; ++r)
    work.push_back(r);
  while (!work.empty()) {
    int r = work.back();
    work.pop_back();
    const auto &acts = s.ranks[r];
    while (next[r] < static_cast<int>(acts.size())) {
      const Action &a = acts[next[r]];
      std::optional<Event> missing;
      for (int p = 0; p < a.numParts() && !missing; ++p)
        for (const Event &e : inputsOf(a.part(p), links))
          if (!isDone(e)) {
            missing = e;
            break;
          }
      if (missing) {
        waiters[{missing->stage, missing->microbatch, missing->backward}].push_back(r);
        break;
      }
      for (int p = 0; p < a.numParts(); ++p) {
        Action part = a.part(p);
        bool bwd = isBackwardKind(part.kind);
        if (part.kind == ActionKind::BackwardWeight)
          continue;
        size_t k = key(part.stage, part.microbatch);
        (bwd ? doneB : doneF)[k] = 1;
        auto it = waiters.find({part.stage, part.microbatch, bwd});
        if (it != waiters.end()) {
          for (int w : it->second)
            work.push_back(w);
          waiters.erase(it);
        }
      }
      ++next[r];
    }
  }
  for (int r = 0; r < s.numRanks; ++r) {
    const auto &acts = s.ranks[r];
    if (next[r] >= static_cast<int>(acts.size()))
      continue;
    const Action &a = acts[next[r]];
    for (int p = 0; p < a.numParts(); ++p)
      for (const Event &e : inputsOf(a.part(p), links)) {
        if (isDone(e))
          continue;
        Loc l = producer[e.backward ? 1 : 0][key(e.stage, e.microbatch)];
        std::string where = l.valid() ? " (rank " + str(l.rank) + ", action " +
                                            str(l.index) + ")"
                                      : "";
        errs.push_back({r, next[r],
                        "waits for " + eventName(e) + where +
                            ", which can never run first: the actions wait on each "
                            "other in a cycle (cross-stage dependency)"});
        p = a.numParts();
        break;
      }
  }
}

//===--------------------------------------------------------------------===//
// Checks 4 to 6: links, a schedule's own non-compute actions, deadlock
//===--------------------------------------------------------------------===//

/// Where one operation on a directed link sits on its rank, in positions
/// 0..K (position i is just before action i).
struct LinkOp {
  Message msg;
  int actionIndex; ///< Action that sends it / consumes it.
  int post;        ///< Position that posts it (a send: where it is issued).
  int wait;        ///< Position that waits for its completion.
};
using LinkKey = std::pair<int, int>;
/// The operations of one directed link, both in the link's FIFO order (the
/// sender's issue order): sends[j] is matched by recvs[j].
struct LinkOps {
  std::vector<LinkOp> sends, recvs;
};
using Links = std::map<LinkKey, LinkOps>;

/// How many receiving actions ahead commGroups(schedule) posts receives.
constexpr int kReceivePrefetch = 2;

std::string msgKey(const Message &m) {
  return std::to_string(m.fromStage) + (m.gradient ? "B" : "F") +
         std::to_string(m.microbatch) + ">" + std::to_string(m.toStage);
}

/// Matches every message sent with its receive: sends just after their
/// action, receives waited for just before their consumer and, for now,
/// posted there too. Reports messages sent but never consumed, or the
/// reverse.
Links matchLinks(const Schedule &s, const std::vector<std::vector<ActionComm>> &comm,
                 std::vector<Diagnostic> &errs) {
  Links links;
  std::map<LinkKey, std::map<std::string, LinkOp>> consumed;
  for (int r = 0; r < s.numRanks; ++r)
    for (int i = 0; i < static_cast<int>(comm[r].size()); ++i) {
      for (const Message &m : comm[r][i].sends)
        links[{m.fromRank, m.toRank}].sends.push_back({m, i, i + 1, i + 1});
      for (const Message &m : comm[r][i].recvs)
        consumed[{m.fromRank, m.toRank}][msgKey(m)] = {m, i, i, i};
    }
  for (auto &[lk, ops] : links) {
    auto &cons = consumed[lk];
    for (const LinkOp &snd : ops.sends) {
      auto it = cons.find(msgKey(snd.msg));
      if (it == cons.end()) {
        errs.push_back({lk.first, snd.actionIndex,
                        "sends " + snd.msg.str() + " to rank " + std::to_string(lk.second) +
                            ", which never receives it"});
        continue;
      }
      ops.recvs.push_back(it->second);
      cons.erase(it);
    }
  }
  for (auto &[lk, cons] : consumed)
    for (auto &[k, op] : cons)
      errs.push_back({lk.second, op.actionIndex,
                      "receives " + op.msg.str() + " from rank " +
                          std::to_string(lk.first) + ", which never sends it"});
  return links;
}

/// commGroups(schedule)'s posting: the receives of an action are posted
/// with those of the second-to-last earlier receiving action, and no later
/// than the receive of any message sent after them on the link.
void postTwoAhead(const Schedule &s, const std::vector<std::vector<ActionComm>> &comm,
                  Links &links) {
  std::vector<std::vector<int>> postOf(s.numRanks);
  for (int r = 0; r < s.numRanks; ++r) {
    std::deque<int> receivers;
    postOf[r].resize(comm[r].size());
    for (int i = 0; i < static_cast<int>(comm[r].size()); ++i) {
      postOf[r][i] = receivers.size() < static_cast<size_t>(kReceivePrefetch)
                         ? 0
                         : receivers.front();
      if (!comm[r][i].recvs.empty()) {
        receivers.push_back(i);
        if (receivers.size() > static_cast<size_t>(kReceivePrefetch))
          receivers.pop_front();
      }
    }
  }
  for (auto &[lk, ops] : links) {
    for (LinkOp &op : ops.recvs)
      op.post = postOf[lk.second][op.actionIndex];
    for (int j = static_cast<int>(ops.recvs.size()) - 2; j >= 0; --j)
      ops.recvs[j].post = std::min(ops.recvs[j].post, ops.recvs[j + 1].post);
  }
}

/// The fewest buffers under which the receives of one link, posted in send
/// order, can each be posted no later than its wait: one more than the most
/// earlier-sent messages still waiting when a message is consumed.
int minimumBuffers(const std::vector<LinkOp> &recvs) {
  std::vector<int> waits;
  for (const LinkOp &op : recvs)
    waits.push_back(op.wait);
  std::vector<int> sorted = waits;
  std::sort(sorted.begin(), sorted.end());
  sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
  // Fenwick tree over wait ranks: how many earlier waits are >= this one.
  std::vector<int> tree(sorted.size() + 1, 0);
  int need = recvs.empty() ? 0 : 1, seen = 0;
  for (int w : waits) {
    int rank = static_cast<int>(std::lower_bound(sorted.begin(), sorted.end(), w) -
                                sorted.begin()) + 1;
    int below = 0; // earlier waits < w: ranks 1..rank-1
    for (int i = rank - 1; i > 0; i -= i & -i)
      below += tree[i];
    need = std::max(need, seen - below + 1);
    for (int i = rank; i < static_cast<int>(tree.size()); i += i & -i)
      ++tree[i];
    ++seen;
  }
  return need;
}

/// The most receives of one link posted and not yet waited for at once
/// (a receive occupies its buffer from its post through its wait).
int buffersUsed(const std::vector<LinkOp> &recvs) {
  std::map<int, int> delta;
  for (const LinkOp &op : recvs) {
    ++delta[op.post];
    --delta[op.wait + 1];
  }
  int live = 0, most = 0;
  for (auto &[pos, d] : delta)
    most = std::max(most, live += d);
  return most;
}

/// Early posting: each receive of a link, in send order, as soon as one of
/// the link's buffers is free (a buffer is free again after the position
/// that waits for its receive).
void postEarly(Links &links, int buffersPerLink) {
  for (auto &[lk, ops] : links) {
    auto &recvs = ops.recvs;
    if (buffersPerLink <= 0) {
      for (LinkOp &op : recvs)
        op.post = 0;
      continue;
    }
    const int b = std::max(buffersPerLink, minimumBuffers(recvs));
    // The b largest waits among the earlier receives; the smallest of them
    // frees the buffer the next receive can take.
    std::priority_queue<int, std::vector<int>, std::greater<int>> largest;
    int last = 0;
    for (LinkOp &op : recvs) {
      int at = last;
      if (static_cast<int>(largest.size()) == b)
        at = std::max(at, largest.top() + 1);
      assert(at <= op.wait && "minimumBuffers guarantees a slot");
      op.post = last = at;
      largest.push(op.wait);
      if (static_cast<int>(largest.size()) > b)
        largest.pop();
    }
  }
}

/// The links under a posting policy.
Links plannedLinks(const Schedule &s, const PostingOptions &posting,
                   std::vector<Diagnostic> &errs) {
  std::vector<std::vector<ActionComm>> comm = communication(s);
  Links links = matchLinks(s, comm, errs);
  if (posting.policy == ReceivePosting::TwoAhead)
    postTwoAhead(s, comm, links);
  else
    postEarly(links, posting.buffersPerLink);
  return links;
}

std::string where(const Schedule &s, int r, int position) {
  if (position >= static_cast<int>(s.ranks[r].size()))
    return "after its last action";
  return "before action " + str(position) + " (" + formatAction(s.ranks[r][position]) + ")";
}

std::string commStr(const Schedule &s, int r, const CommAction &c) {
  return "rank " + str(r) + ", " + formatCommAction(c) + " " + where(s, r, c.before);
}

/// Check 5, FSDP part: UNSHARD/RESHARD/REDUCE_GRAD name a stage of their
/// rank; UNSHARD and RESHARD alternate per stage, a stage that is ever
/// unsharded is unsharded whenever it computes and at the end resharded;
/// REDUCE_GRAD at most once per stage.
void checkShardActions(const Schedule &s, std::vector<Diagnostic> &errs) {
  for (int r = 0; r < s.numRanks; ++r) {
    const int k = static_cast<int>(s.ranks[r].size());
    std::map<int, bool> unsharded;
    std::set<int> reduced, fsdp;
    for (const CommAction &c : s.comms[r])
      if (c.kind == CommKind::Unshard)
        fsdp.insert(c.stage);
    size_t ci = 0;
    for (int i = 0; i <= k; ++i) {
      for (; ci < s.comms[r].size() && s.comms[r][ci].before == i; ++ci) {
        const CommAction &c = s.comms[r][ci];
        if (c.stage < 0 || c.stage >= s.numStages || s.stageToRank[c.stage] != r) {
          errs.push_back({r, -1, commStr(s, r, c) + ": stage " + str(c.stage) +
                                     " is not placed on rank " + str(r)});
          continue;
        }
        if (c.kind == CommKind::Unshard) {
          if (unsharded[c.stage])
            errs.push_back({r, -1, commStr(s, r, c) + ": stage " + str(c.stage) +
                                       " is already unsharded (UNSHARD twice)"});
          unsharded[c.stage] = true;
        } else if (c.kind == CommKind::Reshard) {
          if (!unsharded[c.stage])
            errs.push_back({r, -1, commStr(s, r, c) + ": RESHARD of stage " + str(c.stage) +
                                       " without an UNSHARD before it"});
          unsharded[c.stage] = false;
        } else if (c.kind == CommKind::ReduceGrad && !reduced.insert(c.stage).second) {
          errs.push_back({r, -1, commStr(s, r, c) + ": a second REDUCE_GRAD of stage " +
                                     str(c.stage)});
        }
      }
      if (i == k)
        break;
      const Action &a = s.ranks[r][i];
      for (int p = 0; p < a.numParts(); ++p) {
        int st = a.part(p).stage;
        if (fsdp.count(st) && !unsharded[st])
          errs.push_back({r, i, "computes on stage " + str(st) + " while its parameters are "
                                "sharded; put " + str(st) + "UNSHARD before it"});
      }
    }
    for (auto &[st, on] : unsharded)
      if (on)
        errs.push_back({r, -1, "rank " + str(r) + " leaves stage " + str(st) +
                                   " unsharded at the end; add " + str(st) + "RESHARD"});
  }
}

/// Check 5: a schedule's own SEND/RECV/UNSHARD/RESHARD/REDUCE_GRAD actions
/// (a compute+comms CSV) say where each message is sent and received; they
/// must name real messages, each once, sends after their producer, receives
/// before their consumer, posted on each link in the order the sender sends
/// (torch matches the operations of two ranks in issue order), and FSDP's
/// unshard/reshard must bracket the stage's compute. Returns the links at
/// the file's positions.
Links explicitLinks(const Schedule &s, std::vector<Diagnostic> &errs) {
  const std::vector<StageLinks> stage = stageLinks(s);
  std::vector<std::vector<ActionComm>> comm = communication(s);
  Links links = matchLinks(s, comm, errs);
  checkShardActions(s, errs);
  if (!errs.empty())
    return links;
  // Where each message's producer and consumer are.
  std::map<std::string, std::pair<int, int>> producer, consumer; // (rank, index)
  std::map<std::string, Message> byKey;
  for (int r = 0; r < s.numRanks; ++r)
    for (int i = 0; i < static_cast<int>(comm[r].size()); ++i) {
      for (const Message &m : comm[r][i].sends) {
        producer[msgKey(m)] = {r, i};
        byKey[msgKey(m)] = m;
      }
      for (const Message &m : comm[r][i].recvs)
        consumer[msgKey(m)] = {r, i};
    }
  std::map<std::string, int> sendPos, recvPos;
  std::map<LinkKey, std::vector<std::string>> sendOrder, recvOrder;
  for (int r = 0; r < s.numRanks; ++r)
    for (const CommAction &c : s.comms[r]) {
      if (!c.hasMicrobatch() || c.stage < 0 || c.stage >= s.numStages ||
          s.stageToRank[c.stage] != r)
        continue; // checkShardActions reports misplaced stages
      bool grad = c.kind == CommKind::SendB || c.kind == CommKind::RecvB;
      bool send = c.kind == CommKind::SendF || c.kind == CommKind::SendB;
      const StageLinks &l = stage[c.stage];
      int peer = send ? (grad ? l.prev : l.next) : (grad ? l.next : l.prev);
      if (peer < 0 || s.stageToRank[peer] == r) {
        errs.push_back({r, -1, commStr(s, r, c) + ": stage " + str(c.stage) +
                                   (send ? " sends" : " receives") + " no " +
                                   (grad ? "gradient" : "activation") +
                                   " across ranks on micro-batch " + str(c.microbatch)});
        continue;
      }
      Message m{send ? r : s.stageToRank[peer], send ? s.stageToRank[peer] : r,
                send ? c.stage : peer,           send ? peer : c.stage,
                c.microbatch,                    grad};
      std::string key = msgKey(m);
      if (!byKey.count(key)) {
        errs.push_back({r, -1, commStr(s, r, c) + ": no action sends " + m.str()});
        continue;
      }
      auto &pos = send ? sendPos : recvPos;
      if (pos.count(key)) {
        errs.push_back({r, -1, commStr(s, r, c) + ": " + (send ? "sent" : "received") +
                                   " twice"});
        continue;
      }
      pos[key] = c.before;
      (send ? sendOrder : recvOrder)[{m.fromRank, m.toRank}].push_back(key);
      if (send && c.before <= producer[key].second)
        errs.push_back({r, -1, commStr(s, r, c) + ": sends " + m.str() + " before action " +
                                   str(producer[key].second) + " (" +
                                   formatAction(s.ranks[r][producer[key].second]) +
                                   ") computes it"});
      if (!send && c.before > consumer[key].second)
        errs.push_back({r, consumer[key].second,
                        "consumes " + m.str() + " before its receive (" + formatCommAction(c) +
                            " comes only " + where(s, r, c.before) + ")"});
    }
  // Every message needs its SEND and its RECV.
  for (auto &[key, m] : byKey) {
    auto [pr, pi] = producer[key];
    auto [cr, cix] = consumer[key];
    if (!sendPos.count(key))
      errs.push_back({pr, pi, "computes " + m.str() + " but the rank never sends it (add " +
                                  str(m.fromStage) + (m.gradient ? "SEND_B" : "SEND_F") +
                                  str(m.microbatch) + " after it)"});
    if (!recvPos.count(key))
      errs.push_back({cr, cix, "consumes " + m.str() + " but the rank never receives it (add " +
                                   str(m.toStage) + (m.gradient ? "RECV_B" : "RECV_F") +
                                   str(m.microbatch) + " before it)"});
  }
  if (!errs.empty())
    return links;
  // Receives of a link posted in send order.
  for (auto &[lk, order] : recvOrder) {
    const auto &sent = sendOrder[lk];
    for (size_t j = 0; j < order.size() && j < sent.size(); ++j)
      if (order[j] != sent[j]) {
        errs.push_back({lk.second, consumer[order[j]].second,
                        "posts the receive of " + byKey[order[j]].str() + " before that of " +
                            byKey[sent[j]].str() + ", but rank " + str(lk.first) +
                            " sends them the other way round; receives on a link must be "
                            "posted in the order the sender sends"});
        break;
      }
  }
  for (auto &[lk, ops] : links) {
    for (LinkOp &op : ops.sends)
      op.post = op.wait = sendPos[msgKey(op.msg)];
    for (LinkOp &op : ops.recvs)
      op.post = recvPos[msgKey(op.msg)];
  }
  return links;
}

/// Check 6: no rank waits forever. A rank at position g has issued its
/// sends and posted its receives of g and waits there for (a) the receives
/// waited for at g: the sender must have reached the position issuing the
/// send; (b) under BlockingGroups also its sends of g: the receiver must
/// have reached the position posting the receive.
void checkDeadlock(const Schedule &s, const Links &links, CommModel model,
                   std::vector<Diagnostic> &errs) {
  const int n = s.numRanks;
  struct Op {
    int peer;
    int peerPost;
    const Message *msg;
    bool send;
  };
  std::vector<std::vector<std::vector<Op>>> waits(n);
  std::vector<std::vector<int>> neighbours(n);
  for (int r = 0; r < n; ++r)
    waits[r].resize(s.ranks[r].size() + 1);
  for (const auto &[lk, ops] : links) {
    for (size_t j = 0; j < ops.sends.size() && j < ops.recvs.size(); ++j) {
      const LinkOp &snd = ops.sends[j], &rcv = ops.recvs[j];
      if (model == CommModel::BlockingGroups)
        waits[lk.first][snd.wait].push_back({lk.second, rcv.post, &snd.msg, true});
      waits[lk.second][rcv.wait].push_back({lk.first, snd.post, &rcv.msg, false});
    }
    neighbours[lk.first].push_back(lk.second);
    neighbours[lk.second].push_back(lk.first);
  }
  std::vector<int> cur(n, 0);
  auto groupDone = [&](int r) {
    for (const Op &op : waits[r][cur[r]])
      if (cur[op.peer] < op.peerPost)
        return false;
    return true;
  };
  std::vector<int> work;
  for (int r = 0; r < n; ++r)
    work.push_back(r);
  while (!work.empty()) {
    int r = work.back();
    work.pop_back();
    bool advanced = false;
    while (cur[r] < static_cast<int>(waits[r].size()) && groupDone(r)) {
      ++cur[r];
      advanced = true;
    }
    if (advanced)
      for (int p : neighbours[r])
        work.push_back(p);
  }
  const std::string semantics = model == CommModel::BlockingGroups
                                    ? "deadlock under blocking-group semantics: rank "
                                    : "deadlock under posted-receive semantics: rank ";
  for (int r = 0; r < n; ++r) {
    if (cur[r] >= static_cast<int>(waits[r].size()))
      continue;
    for (const Op &op : waits[r][cur[r]]) {
      if (cur[op.peer] >= op.peerPost)
        continue;
      int k = static_cast<int>(s.ranks[r].size());
      errs.push_back({r, std::min(cur[r], k - 1),
                      semantics + str(r) + " is blocked " + where(s, r, cur[r]) +
                          " waiting for rank " + str(op.peer) + " to post the " +
                          (op.send ? "receive" : "send") + " of " + op.msg->str() +
                          ", but rank " + str(op.peer) + " is blocked " +
                          where(s, op.peer, cur[op.peer])});
      break;
    }
  }
}

std::vector<std::vector<CommGroup>> groupsOf(const Schedule &s, const Links &links) {
  std::vector<std::vector<CommGroup>> groups(s.numRanks);
  for (int r = 0; r < s.numRanks; ++r)
    groups[r].resize(s.ranks[r].size() + 1);
  for (const auto &[lk, ops] : links) {
    for (const LinkOp &op : ops.sends)
      groups[lk.first][op.post].sends.push_back(op.msg);
    for (const LinkOp &op : ops.recvs) {
      groups[lk.second][op.post].postRecvs.push_back(op.msg);
      groups[lk.second][op.wait].waitRecvs.push_back(op.msg);
    }
  }
  return groups;
}

} // namespace

std::vector<Event> inputsOf(const Action &a, const std::vector<StageLinks> &links) {
  std::vector<Event> in;
  const StageLinks &l = links[a.stage];
  switch (a.kind) {
  case ActionKind::Forward:
    if (l.prev >= 0)
      in.push_back({l.prev, a.microbatch, false});
    break;
  case ActionKind::Backward:
  case ActionKind::BackwardInput:
    in.push_back({a.stage, a.microbatch, false});
    if (l.next >= 0)
      in.push_back({l.next, a.microbatch, true});
    break;
  case ActionKind::BackwardWeight:
    in.push_back({a.stage, a.microbatch, true});
    break;
  case ActionKind::OverlappedFB:
    assert(false && "split pairs with Action::part before inputsOf");
    break;
  }
  return in;
}

std::string Message::str() const {
  if (gradient)
    return "gradient " + std::to_string(fromStage) + "B" + std::to_string(microbatch) +
           " -> stage " + std::to_string(toStage);
  return "activation " + std::to_string(fromStage) + "F" + std::to_string(microbatch) +
         " -> stage " + std::to_string(toStage);
}

std::vector<std::vector<ActionComm>> communication(const Schedule &s) {
  const std::vector<StageLinks> links = stageLinks(s);
  std::vector<std::vector<ActionComm>> out(s.numRanks);
  for (int r = 0; r < s.numRanks; ++r) {
    out[r].resize(s.ranks[r].size());
    for (size_t i = 0; i < s.ranks[r].size(); ++i) {
      const Action &a = s.ranks[r][i];
      ActionComm &c = out[r][i];
      for (int p = 0; p < a.numParts(); ++p) {
        Action part = a.part(p);
        for (const Event &e : inputsOf(part, links)) {
          if (e.stage == part.stage)
            continue; // own F or own I: local
          int from = s.stageToRank[e.stage];
          if (from != r)
            c.recvs.push_back({from, r, e.stage, part.stage, e.microbatch, e.backward});
        }
        const StageLinks &l = links[part.stage];
        if (part.kind == ActionKind::Forward && l.next >= 0 &&
            s.stageToRank[l.next] != r)
          c.sends.push_back({r, s.stageToRank[l.next], part.stage, l.next,
                             part.microbatch, false});
        if (isBackwardKind(part.kind) && l.prev >= 0 && s.stageToRank[l.prev] != r)
          c.sends.push_back({r, s.stageToRank[l.prev], part.stage, l.prev,
                             part.microbatch, true});
      }
    }
  }
  return out;
}

std::vector<std::vector<CommGroup>> commGroups(const Schedule &s) {
  return commGroups(s, PostingOptions{ReceivePosting::TwoAhead, 0});
}

std::vector<std::vector<CommGroup>> commGroups(const Schedule &s,
                                               const PostingOptions &posting) {
  std::vector<Diagnostic> ignored;
  return groupsOf(s, plannedLinks(s, posting, ignored));
}

CommPlan planCommunication(const Schedule &s, const PostingOptions &posting) {
  std::vector<Diagnostic> ignored;
  Links links = s.hasComms() ? explicitLinks(s, ignored) : plannedLinks(s, posting, ignored);
  CommPlan plan;
  plan.recvs.resize(s.numRanks);
  plan.sends.resize(s.numRanks);
  for (const auto &[lk, ops] : links) {
    for (const LinkOp &op : ops.sends)
      plan.sends[lk.first].push_back({op.msg, op.post});
    for (const LinkOp &op : ops.recvs)
      plan.recvs[lk.second].push_back({op.msg, op.post, op.wait});
    plan.buffers.push_back({lk, buffersUsed(ops.recvs)});
  }
  // Issue order per rank: by position, then link order (stable).
  for (auto &v : plan.sends)
    std::stable_sort(v.begin(), v.end(), [](const PlannedSend &a, const PlannedSend &b) {
      return a.position < b.position;
    });
  for (auto &v : plan.recvs)
    std::stable_sort(v.begin(), v.end(), [](const PlannedRecv &a, const PlannedRecv &b) {
      return a.post < b.post;
    });
  return plan;
}

std::vector<std::pair<std::pair<int, int>, int>> minimumReceiveBuffers(const Schedule &s) {
  std::vector<Diagnostic> ignored;
  Links links = matchLinks(s, communication(s), ignored);
  std::vector<std::pair<std::pair<int, int>, int>> out;
  for (const auto &[lk, ops] : links)
    out.push_back({lk, minimumBuffers(ops.recvs)});
  return out;
}

std::optional<int> fewestReceiveBuffers(const Schedule &s) {
  if (!validate(s).ok())
    return std::nullopt;
  // More buffers post receives earlier, which only lets groups complete
  // sooner; past the most messages a link carries every receive is posted
  // at once.
  int most = 1;
  std::vector<Diagnostic> ignored;
  for (const auto &[lk, ops] : matchLinks(s, communication(s), ignored))
    most = std::max(most, static_cast<int>(ops.recvs.size()));
  for (int b = 1; b <= most; ++b)
    if (validate(s, {CommModel::BlockingGroups, {ReceivePosting::Early, b}}).ok())
      return b;
  return 0;
}

Schedule withPlannedComms(const Schedule &s, const PostingOptions &posting) {
  Schedule out = s;
  out.comms.assign(s.numRanks, {});
  CommPlan plan = planCommunication(s, posting);
  for (int r = 0; r < s.numRanks; ++r) {
    // At one position: the sends of the previous action, then the posts.
    std::vector<std::pair<int, CommAction>> ops;
    for (const PlannedSend &snd : plan.sends[r])
      ops.push_back({0, {snd.msg.gradient ? CommKind::SendB : CommKind::SendF,
                         snd.msg.fromStage, snd.msg.microbatch, snd.position}});
    for (const PlannedRecv &rcv : plan.recvs[r])
      ops.push_back({1, {rcv.msg.gradient ? CommKind::RecvB : CommKind::RecvF,
                         rcv.msg.toStage, rcv.msg.microbatch, rcv.post}});
    std::stable_sort(ops.begin(), ops.end(), [](const auto &a, const auto &b) {
      return a.second.before != b.second.before ? a.second.before < b.second.before
                                                : a.first < b.first;
    });
    for (auto &[order, c] : ops)
      out.comms[r].push_back(c);
  }
  return out;
}

std::string Diagnostic::str(const Schedule &s) const {
  if (rank < 0)
    return message;
  std::string out = "rank " + std::to_string(rank);
  if (actionIndex >= 0 && rank < static_cast<int>(s.ranks.size()) &&
      actionIndex < static_cast<int>(s.ranks[rank].size()))
    out += ", action " + std::to_string(actionIndex) + " (" +
           formatAction(s.ranks[rank][actionIndex]) + ")";
  return out + ": " + message;
}

std::string ValidationReport::str(const Schedule &s, size_t limit) const {
  std::string out;
  for (size_t i = 0; i < errors.size() && i < limit; ++i)
    out += errors[i].str(s) + "\n";
  if (errors.size() > limit)
    out += "... and " + std::to_string(errors.size() - limit) + " more errors\n";
  return out;
}

ValidationReport validate(const Schedule &s) { return validate(s, ValidateOptions{}); }

ValidationReport validate(const Schedule &s, const ValidateOptions &options) {
  ValidationReport report;
  auto &errs = report.errors;
  checkStructure(s, errs);
  if (!errs.empty())
    return report;
  if (!s.comms.empty() && static_cast<int>(s.comms.size()) != s.numRanks) {
    errs.push_back({-1, -1, "the schedule lists non-compute actions for " +
                                str(static_cast<int>(s.comms.size())) + " ranks but has " +
                                str(s.numRanks)});
    return report;
  }
  checkCompleteness(s, errs);
  if (!errs.empty())
    return report;
  checkDependencies(s, errs);
  if (!errs.empty())
    return report;
  // Under Posted where a receive is posted cannot hang a rank, so the
  // posting policy is not worked out.
  Links links = s.hasComms() ? explicitLinks(s, errs)
                : options.model == CommModel::Posted
                    ? matchLinks(s, communication(s), errs)
                    : plannedLinks(s, options.posting, errs);
  if (!errs.empty())
    return report;
  checkDeadlock(s, links, options.model, errs);
  return report;
}

} // namespace dualpipe::sched
