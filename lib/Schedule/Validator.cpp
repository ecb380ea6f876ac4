//===- Validator.cpp - Schedule validity, FIFO links and deadlock ---------===//

#include "dualpipe/Schedule/Validator.h"

#include <algorithm>
#include <deque>
#include <map>
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
// Checks 4 and 5: FIFO links, blocking-group deadlock
//===--------------------------------------------------------------------===//

/// Where one operation on a directed link sits on its rank.
struct LinkOp {
  Message msg;
  int actionIndex; ///< Action that sends it / consumes it.
  int post;        ///< Group that posts it (see commGroups).
  int wait;        ///< Group that waits for its completion.
};
using LinkKey = std::pair<int, int>;
/// The operations of one directed link, both in the link's FIFO order (the
/// sender's issue order): sends[j] is matched by recvs[j].
struct LinkOps {
  std::vector<LinkOp> sends, recvs;
};

/// How many receiving actions ahead a rank posts its receives (see
/// commGroups()).
constexpr int kReceivePrefetch = 2;

std::string msgKey(const Message &m) {
  return std::to_string(m.fromStage) + (m.gradient ? "B" : "F") +
         std::to_string(m.microbatch) + ">" + std::to_string(m.toStage);
}

/// Builds every link's operations under the policy documented at
/// commGroups(). Reports messages sent but never consumed, or the reverse.
std::map<LinkKey, LinkOps> buildLinks(const Schedule &s,
                                      const std::vector<std::vector<ActionComm>> &comm,
                                      std::vector<Diagnostic> &errs) {
  std::map<LinkKey, LinkOps> links;
  std::map<LinkKey, std::map<std::string, LinkOp>> consumed;
  for (int r = 0; r < s.numRanks; ++r) {
    // The last kReceivePrefetch actions that receive; the receives of the
    // next one are posted in the group of the oldest of them.
    std::deque<int> receivers;
    for (int i = 0; i < static_cast<int>(comm[r].size()); ++i) {
      for (const Message &m : comm[r][i].sends)
        links[{m.fromRank, m.toRank}].sends.push_back({m, i, i + 1, i + 1});
      int post = receivers.size() < static_cast<size_t>(kReceivePrefetch)
                     ? 0
                     : receivers.front();
      for (const Message &m : comm[r][i].recvs)
        consumed[{m.fromRank, m.toRank}][msgKey(m)] = {m, i, post, i};
      if (!comm[r][i].recvs.empty()) {
        receivers.push_back(i);
        if (receivers.size() > static_cast<size_t>(kReceivePrefetch))
          receivers.pop_front();
      }
    }
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
    // FIFO: receives are posted in send order, so a receive is posted no
    // later than the receive of any message sent after it.
    for (int j = static_cast<int>(ops.recvs.size()) - 2; j >= 0; --j)
      ops.recvs[j].post = std::min(ops.recvs[j].post, ops.recvs[j + 1].post);
  }
  for (auto &[lk, cons] : consumed)
    for (auto &[k, op] : cons)
      errs.push_back({lk.second, op.actionIndex,
                      "receives " + op.msg.str() + " from rank " +
                          std::to_string(lk.first) + ", which never sends it"});
  return links;
}

void checkBlockingDeadlock(const Schedule &s, const std::map<LinkKey, LinkOps> &links,
                           std::vector<Diagnostic> &errs) {
  const int n = s.numRanks;
  // Per rank, per group: the operations it waits for, each with the peer
  // and the group in which the peer posts the matching operation.
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
      waits[lk.first][snd.wait].push_back({lk.second, rcv.post, &snd.msg, true});
      waits[lk.second][rcv.wait].push_back({lk.first, snd.post, &rcv.msg, false});
    }
    neighbours[lk.first].push_back(lk.second);
    neighbours[lk.second].push_back(lk.first);
  }
  // cur[r]: the group rank r has reached (posted) and waits in.
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
  auto position = [&](int r) {
    int k = static_cast<int>(s.ranks[r].size());
    if (cur[r] >= k)
      return std::string("after its last action");
    return "before action " + str(cur[r]) + " (" + formatAction(s.ranks[r][cur[r]]) + ")";
  };
  for (int r = 0; r < n; ++r) {
    if (cur[r] >= static_cast<int>(waits[r].size()))
      continue;
    for (const Op &op : waits[r][cur[r]]) {
      if (cur[op.peer] >= op.peerPost)
        continue;
      int k = static_cast<int>(s.ranks[r].size());
      errs.push_back({r, std::min(cur[r], k - 1),
                      "deadlock under blocking-group semantics: rank " + str(r) +
                          " is blocked " + position(r) + " waiting for rank " +
                          str(op.peer) + " to post the " + (op.send ? "receive" : "send") +
                          " of " + op.msg->str() + ", but rank " + str(op.peer) +
                          " is blocked " + position(op.peer)});
      break;
    }
  }
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
  std::vector<std::vector<ActionComm>> comm = communication(s);
  std::vector<Diagnostic> ignored;
  std::map<LinkKey, LinkOps> links = buildLinks(s, comm, ignored);
  std::vector<std::vector<CommGroup>> groups(s.numRanks);
  for (int r = 0; r < s.numRanks; ++r)
    groups[r].resize(comm[r].size() + 1);
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

ValidationReport validate(const Schedule &s) {
  ValidationReport report;
  auto &errs = report.errors;
  checkStructure(s, errs);
  if (!errs.empty())
    return report;
  checkCompleteness(s, errs);
  if (!errs.empty())
    return report;
  checkDependencies(s, errs);
  if (!errs.empty())
    return report;
  std::vector<std::vector<ActionComm>> comm = communication(s);
  std::map<LinkKey, LinkOps> links = buildLinks(s, comm, errs);
  if (!errs.empty())
    return report;
  checkBlockingDeadlock(s, links, errs);
  return report;
}

} // namespace dualpipe::sched
