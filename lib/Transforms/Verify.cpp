//===- Verify.cpp - prove the per-rank programs match and finish ---------===//
//
// Implements --dualpipe-verify on a dualpipe.schedule with communication.
//
//===----------------------------------------------------------------------===//
#include "ScheduleIR.h"
#include "dualpipe/Transforms/Passes.h"

#include "dualpipe/Schedule/Validator.h"

#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/MapVector.h"

namespace dualpipe {
#define GEN_PASS_DEF_DUALPIPEVERIFY
#include "dualpipe/Transforms/Passes.h.inc"

using namespace mlir;

namespace {

/// A message is named by its producer.
struct MessageId {
  bool gradient;
  int64_t stage, microbatch;
  bool operator==(const MessageId &o) const {
    return gradient == o.gradient && stage == o.stage &&
           microbatch == o.microbatch;
  }
};

template <typename OpTy> MessageId idOf(OpTy op) {
  return {op.isGradient(), op.getStageIndex(), op.getMicrobatchIndex()};
}

std::string str(const MessageId &m) {
  return (Twine(stringifyPayload(payloadOf(m.gradient))) + " of stage " + Twine(m.stage) +
          ", micro-batch " + Twine(m.microbatch))
      .str();
}

using Link = std::pair<int64_t, int64_t>; // (sender, receiver)

/// What a single compute action is, for data-flow checks.
struct Done {
  llvm::DenseSet<std::pair<int64_t, int64_t>> forward, backward, inputGrad;
  llvm::DenseSet<std::tuple<int64_t, int64_t, int64_t>> received;
};

struct VerifyPass : impl::DualPipeVerifyBase<VerifyPass> {
  ScheduleOp schedule;
  PipelineOp pipeline;
  sched::Schedule engine;
  std::vector<sched::StageLinks> links;
  /// Every program's top-level ops, per rank.
  SmallVector<SmallVector<Operation *>> steps;
  /// Position of each isend/irecv on its link.
  DenseMap<Operation *, int64_t> linkIndex;

  LogicalResult checkStructure() {
    sched::ValidationReport report = sched::validate(engine);
    if (!report.ok())
      return mlir::emitError(schedule.getLoc()) << "the schedule is not valid:\n"
                                  << report.str(engine, 5);
    return success();
  }

  /// Per link, the receiver posts the sender's messages in send order.
  LogicalResult checkLinks() {
    std::map<Link, SmallVector<ISendOp>> sends;
    std::map<Link, SmallVector<IRecvOp>> recvs;
    for (auto [r, ops] : llvm::enumerate(steps))
      for (Operation *op : ops)
        if (auto group = dyn_cast<P2PGroupOp>(op))
          for (Operation &inner : group.getBody().front()) {
            if (auto s = dyn_cast<ISendOp>(inner)) {
              auto &list = sends[{int64_t(r), s.getPeerRank()}];
              linkIndex[s] = list.size();
              list.push_back(s);
            } else if (auto v = dyn_cast<IRecvOp>(inner)) {
              auto &list = recvs[{v.getPeerRank(), int64_t(r)}];
              linkIndex[v] = list.size();
              list.push_back(v);
            }
          }
    std::set<Link> all;
    for (auto &[l, _] : sends)
      all.insert(l);
    for (auto &[l, _] : recvs)
      all.insert(l);
    for (Link l : all) {
      auto &s = sends[l];
      auto &v = recvs[l];
      for (size_t k = 0; k < std::max(s.size(), v.size()); ++k) {
        if (k >= v.size())
          return s[k].emitError()
                 << "rank " << l.first << " sends the " << str(idOf(s[k]))
                 << " to rank " << l.second
                 << ", which never posts a receive for it (it posts " << v.size()
                 << " receives on the link " << l.first << " -> " << l.second
                 << ")";
        if (k >= s.size())
          return v[k].emitError()
                 << "rank " << l.second << " posts a receive of the "
                 << str(idOf(v[k])) << " from rank " << l.first
                 << ", but rank " << l.first << " sends only " << s.size()
                 << " messages on that link";
        if (!(idOf(s[k]) == idOf(v[k]))) {
          InFlightDiagnostic d = v[k].emitError()
                                 << "message " << k << " on the link "
                                 << l.first << " -> " << l.second
                                 << " is the " << str(idOf(s[k]))
                                 << " at the sender but the receiver expects "
                                    "the "
                                 << str(idOf(v[k]))
                                 << "; links are FIFO, so post receives in "
                                    "the order the sender sends";
          d.attachNote(s[k].getLoc()) << "the sender's message " << k;
          return failure();
        }
        if (s[k].getTypes() != v[k].getTypes()) {
          InFlightDiagnostic d = v[k].emitError()
                                 << "the " << str(idOf(v[k])) << " arrives as "
                                 << s[k].getTypes() << " but is received as "
                                 << v[k].getTypes()
                                 << "; shapes and element types must match";
          d.attachNote(s[k].getLoc()) << "sent here";
          return failure();
        }
      }
    }
    return success();
  }

  /// Receives are waited once, after being posted; every action's inputs are
  /// there before it runs; sends come after what they send was computed.
  LogicalResult checkDataFlow() {
    for (auto [r, ops] : llvm::enumerate(steps)) {
      Done done;
      DenseMap<std::tuple<int64_t, int64_t, int64_t>, IRecvOp> posted;
      auto needLocalOrReceived = [&](Operation *at, int64_t stage, int64_t mb,
                                     bool gradient,
                                     const char *what) -> LogicalResult {
        if (stage < 0)
          return success();
        bool local = engine.stageToRank[stage] == int64_t(r);
        bool have =
            local ? (gradient ? done.inputGrad.contains({stage, mb})
                              : done.forward.contains({stage, mb}))
                  : done.received.contains({int64_t(gradient), stage, mb});
        if (have)
          return success();
        return at->emitError()
               << what << " on rank " << r << " needs the "
               << str(MessageId{gradient, stage, mb})
               << (local ? ", computed on this rank later or never"
                         : ", but no wait_recv for it comes before");
      };
      auto runCompute = [&](ComputeOp c) -> LogicalResult {
        int64_t s = c.getStageIndex(), m = c.getMicrobatchIndex();
        ActionKind k = c.getKind();
        std::string what = (stringifyActionKind(k) + Twine(" of stage ") + Twine(s) +
                            ", micro-batch " + Twine(m))
                               .str();
        if (k == ActionKind::Forward) {
          if (failed(needLocalOrReceived(c, links[s].prev, m, false,
                                         what.c_str())))
            return failure();
          done.forward.insert({s, m});
          return success();
        }
        if (k == ActionKind::BackwardWeight) {
          if (!done.backward.contains({s, m}))
            return c.emitError() << what << " runs before its I";
          return success();
        }
        if (!done.forward.contains({s, m}))
          return c.emitError() << what << " runs before its forward";
        if (failed(needLocalOrReceived(c, links[s].next, m, true,
                                       what.c_str())))
          return failure();
        done.backward.insert({s, m});
        done.inputGrad.insert({s, m});
        return success();
      };
      for (Operation *op : ops) {
        if (auto c = dyn_cast<ComputeOp>(op)) {
          if (failed(runCompute(c)))
            return failure();
        } else if (auto pair = dyn_cast<OverlapOp>(op)) {
          for (auto c : pair.getBody().front().getOps<ComputeOp>())
            if (failed(runCompute(c)))
              return failure();
        } else if (auto group = dyn_cast<P2PGroupOp>(op)) {
          for (Operation &inner : group.getBody().front()) {
            if (auto s = dyn_cast<ISendOp>(inner)) {
              MessageId id = idOf(s);
              bool ready = id.gradient
                               ? done.inputGrad.contains({id.stage, id.microbatch})
                               : done.forward.contains({id.stage, id.microbatch});
              if (!ready)
                return s.emitError() << "sends the " << str(id)
                                     << " before rank " << r
                                     << " has computed it";
            } else {
              auto v = cast<IRecvOp>(inner);
              MessageId id = idOf(v);
              if (!posted.try_emplace({int64_t(id.gradient), id.stage, id.microbatch}, v)
                       .second)
                return v.emitError() << "posts the receive of the " << str(id)
                                     << " a second time";
            }
          }
        } else if (auto w = dyn_cast<WaitRecvOp>(op)) {
          MessageId id = idOf(w);
          auto key = std::make_tuple(int64_t(id.gradient), id.stage, id.microbatch);
          auto it = posted.find(key);
          if (it == posted.end())
            return w.emitError() << "waits for the " << str(id)
                                 << ", whose receive was never posted before "
                                    "it; post it in an earlier p2p group";
          if (it->second.getPeerRank() != w.getPeerRank())
            return w.emitError() << "waits for the " << str(id)
                                 << " from rank " << w.getPeerRank()
                                 << ", but it was posted from rank "
                                 << it->second.getPeerRank();
          if (!done.received.insert(key).second)
            return w.emitError() << "waits for the " << str(id) << " twice";
        }
      }
      for (auto &[key, v] : posted)
        if (!done.received.contains(key))
          return v.emitError() << "posts the receive of the " << str(idOf(v))
                               << " but nothing waits for it; its buffer would "
                                  "never be released";
    }
    return success();
  }

  /// Runs every program under blocking-group semantics until all finish or
  /// none can move.
  LogicalResult checkDeadlock() {
    size_t n = steps.size();
    std::vector<size_t> pc(n, 0);
    std::vector<bool> groupPosted(n, false);
    std::map<Link, int64_t> sendsPosted, recvsPosted;
    auto sendMatched = [&](ISendOp s, int64_t from) {
      return recvsPosted[{from, s.getPeerRank()}] > linkIndex[s];
    };
    auto recvMatched = [&](IRecvOp v, int64_t to) {
      return sendsPosted[{v.getPeerRank(), to}] > linkIndex[v];
    };
    // The irecv each wait completes.
    DenseMap<Operation *, IRecvOp> waitOf;
    for (auto [r, ops] : llvm::enumerate(steps)) {
      DenseMap<std::tuple<int64_t, int64_t, int64_t>, IRecvOp> posted;
      for (Operation *op : ops) {
        if (auto g = dyn_cast<P2PGroupOp>(op))
          for (auto v : g.getBody().front().getOps<IRecvOp>())
            posted[{int64_t(v.isGradient()), v.getStageIndex(), v.getMicrobatchIndex()}] =
                v;
        if (auto w = dyn_cast<WaitRecvOp>(op))
          waitOf[w] = posted.lookup(
              {int64_t(w.isGradient()), w.getStageIndex(), w.getMicrobatchIndex()});
      }
    }

    bool progress = true;
    while (progress) {
      progress = false;
      for (size_t r = 0; r < n; ++r) {
        while (pc[r] < steps[r].size()) {
          Operation *op = steps[r][pc[r]];
          if (auto g = dyn_cast<P2PGroupOp>(op)) {
            if (!groupPosted[r]) {
              for (Operation &inner : g.getBody().front()) {
                if (auto s = dyn_cast<ISendOp>(inner))
                  ++sendsPosted[{int64_t(r), s.getPeerRank()}];
                else
                  ++recvsPosted[{cast<IRecvOp>(inner).getPeerRank(),
                                 int64_t(r)}];
              }
              groupPosted[r] = true;
              progress = true;
            }
            // Sends complete in their group; receives are only posted here
            // and completed by their wait_recv.
            bool complete = true;
            for (auto s : g.getBody().front().getOps<ISendOp>())
              complete &= sendMatched(s, r);
            if (!complete)
              break;
            groupPosted[r] = false;
          } else if (auto w = dyn_cast<WaitRecvOp>(op)) {
            if (!recvMatched(waitOf.lookup(w), r))
              break;
          } else if (auto a = dyn_cast<AllReduceGradsOp>(op)) {
            bool all = true;
            for (int64_t m : a.getRanks()) {
              auto other = pc[m] < steps[m].size()
                               ? dyn_cast<AllReduceGradsOp>(steps[m][pc[m]])
                               : AllReduceGradsOp();
              if (other && other.getFunction() != a.getFunction()) {
                InFlightDiagnostic d =
                    a.emitError() << "rank " << r << " all-reduces "
                                  << a.getFunctionAttr() << " while rank " << m
                                  << " all-reduces " << other.getFunctionAttr()
                                  << "; the ranks of a group must all-reduce "
                                     "in the same order";
                d.attachNote(other.getLoc()) << "rank " << m << "'s all-reduce";
                return failure();
              }
              all &= bool(other);
            }
            if (!all)
              break;
            // Every member is here: all of them pass it together.
            for (int64_t m : a.getRanks())
              if (m != int64_t(r))
                ++pc[m];
          }
          ++pc[r];
          progress = true;
        }
      }
    }
    bool finished = true;
    for (size_t r = 0; r < n; ++r)
      finished &= pc[r] == steps[r].size();
    if (finished)
      return success();

    InFlightDiagnostic d = mlir::emitError(schedule.getLoc())
                           << "the programs deadlock: no rank can go on";
    for (size_t r = 0; r < n; ++r) {
      if (pc[r] == steps[r].size()) {
        d.attachNote(schedule.getLoc()) << "rank " << r << " has finished";
        continue;
      }
      Operation *op = steps[r][pc[r]];
      std::string why;
      if (auto g = dyn_cast<P2PGroupOp>(op)) {
        for (Operation &inner : g.getBody().front()) {
          if (auto s = dyn_cast<ISendOp>(inner); s && !sendMatched(s, r)) {
            why = "rank " + std::to_string(r) + " waits in a p2p group for rank " +
                  std::to_string(s.getPeerRank()) + " to post its receive of the " +
                  str(idOf(s));
            break;
          }
        }
      } else if (auto w = dyn_cast<WaitRecvOp>(op)) {
        why = "rank " + std::to_string(r) + " waits for rank " +
              std::to_string(w.getPeerRank()) + " to send the " + str(idOf(w));
      } else {
        why = "rank " + std::to_string(r) +
              " waits in an all-reduce for the other members of its group";
      }
      d.attachNote(op->getLoc()) << why;
    }
    return failure();
  }

  void runOnOperation() override {
    ModuleOp module = getOperation();
    auto ops = module.getOps<ScheduleOp>();
    if (ops.empty()) {
      module.emitError() << "no dualpipe.schedule to verify; run "
                            "--dualpipe-schedule and --dualpipe-insert-comm "
                            "first";
      return signalPassFailure();
    }
    schedule = *ops.begin();
    pipeline = lookupPipeline(module);
    FailureOr<sched::Schedule> s = scheduleFromIR(schedule);
    if (failed(s))
      return signalPassFailure();
    engine = std::move(*s);
    links = sched::stageLinks(engine);
    for (auto program : schedule.getBody().front().getOps<ProgramOp>()) {
      steps.emplace_back();
      for (Operation &op : program.getBody().front())
        steps.back().push_back(&op);
    }
    if (failed(checkStructure()) || failed(checkLinks()) ||
        failed(checkDataFlow()) || failed(checkDeadlock()))
      return signalPassFailure();
    // What the lowering will call: each action's callee and each message's
    // tensors against the stage functions (after the order checks, whose
    // messages name the ops they are about).
    if (pipeline && failed(verifyScheduleContract(schedule, pipeline)))
      return signalPassFailure();
  }
};
} // namespace
} // namespace dualpipe
