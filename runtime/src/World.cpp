//===- World.cpp - Ranks, their transport, timeline and failure -----------===//

#include "World.h"

#include "dualpipe/Runtime/Files.h"

#include <algorithm>
#include <cstring>

namespace dualpipe::rt {

World::World(int32_t size, std::chrono::nanoseconds timeout,
             const TransportFactory &makeTransport)
    : size_(size), start_(std::chrono::steady_clock::now()) {
  for (int32_t r = 0; r < size; ++r)
    ranks_.push_back(std::make_unique<RankState>());
  transport_ = makeTransport(size, timeout, failed_);
  transport_->setFailureSink([this](int32_t rank, const std::string &message) {
    fail(rank, message);
  });
}

double World::nowUs() const {
  return std::chrono::duration<double, std::micro>(
             std::chrono::steady_clock::now() - start_)
      .count();
}

//--- Host side --------------------------------------------------------------//

std::string World::bind(int32_t rank) {
  if (rank < 0 || rank >= size_)
    return "cannot bind to rank " + std::to_string(rank) +
           ": the world has ranks 0 to " + std::to_string(size_ - 1);
  if (int32_t hosted = transport_->hostedRank(); hosted >= 0 && rank != hosted)
    return "cannot bind to rank " + std::to_string(rank) +
           ": it runs in another process (this process is rank " +
           std::to_string(hosted) + " of the " + transport_->name() +
           " world)";
  if (ranks_[rank]->bound.exchange(true, std::memory_order_acq_rel))
    return "cannot bind to rank " + std::to_string(rank) +
           ": it is already bound to another thread";
  return "";
}

void World::unbind(int32_t rank) {
  RankState &state = *ranks_[rank];
  double now = nowUs();
  while (!state.actions.empty()) {
    const ActionFrame &open = state.actions.back();
    TraceEvent event;
    event.type = TraceEvent::Type::Action;
    event.failed = true;
    event.kind = open.kind;
    event.stage = open.stage;
    event.microbatch = open.microbatch;
    event.startUs = open.startUs;
    event.durationUs = now - open.startUs;
    state.timeline.add(std::move(event));
    state.actions.pop_back();
  }
  state.last.reset();
  state.bound.store(false, std::memory_order_release);
}

void World::fail(int32_t rank, const std::string &message) {
  {
    std::lock_guard<std::mutex> lock(failMutex_);
    if (failed_.load(std::memory_order_relaxed))
      return;
    firstError_ = message;
    failedRank_ = rank;
    failed_.store(true, std::memory_order_release);
  }
  if (rank >= 0 && rank < size_) {
    TraceEvent event;
    event.type = TraceEvent::Type::Error;
    event.startUs = nowUs();
    event.message = message;
    ranks_[rank]->timeline.add(std::move(event));
  }
  transport_->announceFailure(rank, message);
  transport_->abort();
}

int32_t World::failedRank() const {
  std::lock_guard<std::mutex> lock(failMutex_);
  return failedRank_;
}

const char *World::error() const {
  return failed() ? firstError_.c_str() : nullptr;
}

void World::setTraceLimit(int64_t eventsPerRank) {
  for (const auto &rank : ranks_)
    rank->timeline.setLimit(eventsPerRank);
}

void World::clearTrace() {
  for (const auto &rank : ranks_)
    rank->timeline.clear();
}

std::string World::writeTrace(const std::string &path) const {
  std::vector<std::vector<TraceEvent>> timelines;
  TraceInfo info;
  for (const auto &rank : ranks_) {
    int64_t dropped = 0;
    timelines.push_back(rank->timeline.snapshot(dropped));
    info.droppedEvents += dropped;
  }
  info.backend = transport_->name();
  if (const char *message = error())
    info.error = message;
  return writeFileAtomically(path, renderChromeTrace(timelines, info));
}

//--- Rank side --------------------------------------------------------------//

std::string World::during(int32_t self) const {
  const RankState &state = *ranks_[self];
  const std::vector<ActionFrame> &open = state.actions;
  std::string text;
  for (auto it = open.rbegin(); it != open.rend(); ++it)
    text += (it == open.rbegin() ? " during " : " inside ") +
            actionLongName(it->kind, it->stage, it->microbatch);
  if (open.empty() && state.last)
    text = " following " + actionLongName(state.last->kind, state.last->stage,
                                          state.last->microbatch);
  return text;
}

std::string World::reject(int32_t self, const std::string &op,
                          const std::string &problem) {
  std::string message =
      "rank " + std::to_string(self) + ": " + op + during(self) + problem;
  fail(self, message);
  return message;
}

std::string World::conclude(int32_t self, const CommStatus &status) {
  switch (status.code) {
  case CommStatus::Code::Ok:
    return "";
  case CommStatus::Code::Failed:
    return reject(self, status.op, status.problem);
  case CommStatus::Code::Abandoned:
    break;
  }
  const char *first = error();
  return "rank " + std::to_string(self) + ": " + status.op + during(self) +
         " abandoned because the world failed: " +
         (first ? first : "(unknown error)");
}

std::string World::checkPeer(int32_t self, int32_t peer,
                             const char *verb) const {
  if (peer == self)
    return std::string(": a rank cannot ") + verb + " itself (world of " +
           std::to_string(size_) + " ranks)";
  if (peer < 0 || peer >= size_)
    return ": rank " + std::to_string(peer) + " is outside the world of " +
           std::to_string(size_) + " ranks (valid ranks are 0 to " +
           std::to_string(size_ - 1) + ")";
  return "";
}

namespace {

std::string checkBuffer(const void *data, int64_t bytes) {
  if (bytes < 0)
    return ": the byte count is negative (" + std::to_string(bytes) + ")";
  if (!data && bytes > 0)
    return ": the buffer is NULL";
  return "";
}

} // namespace

std::string World::checkP2P(int32_t self, int32_t peer, const void *data,
                            int64_t bytes, const char *verb) const {
  std::string problem = checkPeer(self, peer, verb);
  return problem.empty() ? checkBuffer(data, bytes) : problem;
}

CommStatus World::traced(int32_t self, TraceEvent::Type type, int32_t peer,
                         int64_t tag, int64_t bytes,
                         const std::function<CommStatus()> &call) {
  TraceEvent event;
  event.type = type;
  event.peer = peer;
  event.tag = tag;
  event.bytes = bytes;
  event.startUs = nowUs();
  CommStatus status = call();
  event.durationUs = nowUs() - event.startUs;
  event.failed = !status.ok();
  ranks_[self]->timeline.add(std::move(event));
  return status;
}

std::string World::send(int32_t self, int32_t peer, int64_t tag,
                        const void *data, int64_t bytes) {
  std::string op = describeSend(peer, tag);
  if (failed())
    return conclude(self, CommStatus::abandoned(op));
  std::string problem = checkP2P(self, peer, data, bytes, "send to");
  if (!problem.empty())
    return reject(self, op, problem);
  return conclude(self, traced(self, TraceEvent::Type::Send, peer, tag, bytes,
                               [&] {
                                 return transport_->send(self, peer, tag, data,
                                                         bytes);
                               }));
}

std::string World::recv(int32_t self, int32_t peer, int64_t tag, void *data,
                        int64_t bytes) {
  // Never hand stale bytes or half a message to the program.
  auto zeroFill = [&] {
    if (data && bytes > 0)
      std::memset(data, 0, static_cast<size_t>(bytes));
  };
  std::string op = describeRecv(peer, tag);
  if (failed()) {
    zeroFill();
    return conclude(self, CommStatus::abandoned(op));
  }
  std::string problem = checkP2P(self, peer, data, bytes, "receive from");
  if (!problem.empty()) {
    zeroFill();
    return reject(self, op, problem);
  }
  CommStatus status =
      traced(self, TraceEvent::Type::Recv, peer, tag, bytes, [&] {
        return transport_->recv(self, peer, tag, data, bytes);
      });
  if (!status.ok())
    zeroFill();
  return conclude(self, status);
}

std::string World::irecv(int32_t self, int32_t peer, int64_t tag, void *data,
                         int64_t bytes, int64_t &request) {
  RankState &state = *ranks_[self];
  request = state.nextRequest++;
  std::string op = describeRecv(peer, tag);
  std::string problem = checkP2P(self, peer, data, bytes, "receive from");
  // A failed post still gets its request, so the wait (which the program
  // reaches anyway) finds it and zero-fills the buffer.
  state.posted[request] = {peer, tag, data, bytes, nowUs()};
  if (failed())
    return conclude(self, CommStatus::abandoned(op));
  if (!problem.empty())
    return reject(self, op, problem);
  CommStatus status =
      transport_->postRecv(self, peer, tag, data, bytes, request);
  if (!status.ok())
    state.posted[request].data = nullptr; // the transport never took it
  return conclude(self, status);
}

std::string World::wait(int32_t self, int64_t request) {
  RankState &state = *ranks_[self];
  if (state.reductions.count(request))
    return waitReduce(self, request);
  auto it = state.posted.find(request);
  if (it == state.posted.end())
    return reject(self, "wait for receive request " + std::to_string(request),
                  ": it was never posted, or it was waited for already "
                  "(every dualpipe_rt_irecv needs exactly one "
                  "dualpipe_rt_wait)");
  PostedRecv posted = it->second;
  state.posted.erase(it);
  auto zeroFill = [&] {
    if (posted.data && posted.bytes > 0)
      std::memset(posted.data, 0, static_cast<size_t>(posted.bytes));
  };
  TraceEvent event;
  event.type = TraceEvent::Type::Recv;
  event.peer = posted.peer;
  event.tag = posted.tag;
  event.bytes = posted.bytes;
  event.postUs = posted.postUs;
  event.startUs = nowUs();
  Transport::TransferTimes times;
  // A receive the transport took is always waited for there, also once the
  // world failed (the transport then returns at once, abandoned, having
  // withdrawn it): no sender may write into the buffer after this returns.
  CommStatus status =
      !posted.data
          ? CommStatus::abandoned(describeRecv(posted.peer, posted.tag))
          : transport_->waitRecv(self, request, times);
  event.durationUs = nowUs() - event.startUs;
  event.failed = !status.ok();
  double originUs = std::chrono::duration<double, std::micro>(
                        start_.time_since_epoch())
                        .count();
  if (times.sentNs >= 0)
    event.sentUs = times.sentNs / 1e3 - originUs;
  if (times.arrivedNs >= 0)
    event.arrivedUs = times.arrivedNs / 1e3 - originUs;
  state.timeline.add(std::move(event));
  if (!status.ok())
    zeroFill();
  return conclude(self, status);
}

CommSummary World::commSummary(int32_t self) const {
  int64_t dropped = 0;
  return summarizeComm(ranks_[self]->timeline.snapshot(dropped));
}

std::string World::checkGroup(int32_t self, std::vector<int32_t> &group,
                              const void *data, int64_t count) const {
  std::sort(group.begin(), group.end());
  if (group.empty())
    return ": the group is empty";
  for (int32_t rank : group)
    if (rank < 0 || rank >= size_)
      return ": rank " + std::to_string(rank) +
             " of the group is outside the world of " +
             std::to_string(size_) + " ranks";
  auto repeated = std::adjacent_find(group.begin(), group.end());
  if (repeated != group.end())
    return ": rank " + std::to_string(*repeated) +
           " appears twice in the group";
  if (!std::binary_search(group.begin(), group.end(), self))
    return ": the calling rank is not a member of the group";
  if (count < 0)
    return ": the element count is negative (" + std::to_string(count) + ")";
  if (!data && count > 0)
    return ": the buffer is NULL";
  return "";
}

namespace {
/// Nonblocking all-reduces travel as point-to-point messages with tags
/// counted down from the transport's largest, clear of compiled steps'
/// message tags (which count up from 0).
constexpr int64_t kReduceTags = int64_t(1) << 20;
} // namespace

std::string World::iallReduceSum(int32_t self, DType type, void *data,
                                 int64_t count, const int32_t *ranks,
                                 int32_t nranks, int64_t tag,
                                 int64_t &request) {
  RankState &state = *ranks_[self];
  request = state.nextRequest++;
  std::vector<int32_t> group;
  if (ranks && nranks > 0)
    group.assign(ranks, ranks + nranks);
  std::string op = "started " + describeAllReduce(type, count, group);
  std::string problem = checkGroup(self, group, data, count);
  if (problem.empty() && (tag < 0 || tag >= kReduceTags))
    problem = ": the tag " + std::to_string(tag) + " is outside 0 to " +
              std::to_string(kReduceTags - 1);
  // A failed start still gets its request: the wait finds it and fails.
  PendingReduce &r = state.reductions[request];
  r = PendingReduce{type, data, count, group, tag, {}, {}, nowUs()};
  if (failed())
    return conclude(self, CommStatus::abandoned(op));
  if (!problem.empty())
    return reject(self, op, problem);
  int64_t bytes = count * dtypeBytes(type);
  int64_t wireTag = transport_->maxTag() - tag;
  r.incoming.resize(group.size());
  r.requests.assign(group.size(), -1);
  for (size_t i = 0; i < group.size(); ++i) {
    int32_t peer = group[i];
    if (peer == self)
      continue;
    CommStatus sent = transport_->send(self, peer, wireTag, data, bytes);
    if (!sent.ok())
      return conclude(self, sent);
    r.incoming[i].resize(static_cast<size_t>(bytes));
    r.requests[i] = state.nextRequest++;
    CommStatus posted = transport_->postRecv(
        self, peer, wireTag, r.incoming[i].data(), bytes, r.requests[i]);
    if (!posted.ok()) {
      r.requests[i] = -1;
      return conclude(self, posted);
    }
  }
  r.started = true;
  return "";
}

std::string World::waitReduce(int32_t self, int64_t request) {
  RankState &state = *ranks_[self];
  auto node = state.reductions.extract(request);
  PendingReduce &r = node.mapped();
  int64_t bytes = r.count * dtypeBytes(r.type);
  std::string op = describeAllReduce(r.type, r.count, r.group);
  TraceEvent event;
  event.type = TraceEvent::Type::AllReduce;
  event.peer = static_cast<int32_t>(r.group.size());
  event.tag = r.tag;
  event.bytes = bytes;
  event.postUs = r.postUs;
  double originUs =
      std::chrono::duration<double, std::micro>(start_.time_since_epoch())
          .count();
  double lastArrivalUs = r.postUs; // a message there before the post: 0
  double lastSentUs = r.postUs;    // when the last member had started
  bool arrivalsKnown = true;
  // Every posted receive is completed (or withdrawn by the transport on
  // failure) before the buffers go away.
  CommStatus status = CommStatus::success();
  for (size_t i = 0; i < r.requests.size(); ++i) {
    if (r.requests[i] < 0)
      continue;
    Transport::TransferTimes times;
    CommStatus got = transport_->waitRecv(self, r.requests[i], times);
    if (got.ok() && times.arrivedNs >= 0)
      lastArrivalUs = std::max(lastArrivalUs, times.arrivedNs / 1e3 - originUs);
    else
      arrivalsKnown = false;
    if (got.ok() && times.sentNs >= 0)
      lastSentUs = std::max(lastSentUs, times.sentNs / 1e3 - originUs);
    if (status.ok() && !got.ok())
      status = got;
  }
  if (status.ok() && !r.started)
    status = failed() ? CommStatus::abandoned(op)
                      : CommStatus::failed(op, ": it failed to start");
  double nowAt = nowUs();
  // The exchange proper: from when every member had started (a member
  // that starts late is its program's lateness, not communication) to the
  // last arrival, or to now if that is not known (then the wait counts).
  event.startUs = std::min(lastSentUs, arrivalsKnown ? lastArrivalUs : nowAt);
  event.durationUs = (arrivalsKnown ? lastArrivalUs : nowAt) - event.startUs;
  event.failed = !status.ok();
  state.timeline.add(std::move(event));
  if (!status.ok()) {
    if (r.data && bytes > 0)
      std::memset(r.data, 0, static_cast<size_t>(bytes));
    return conclude(self, status);
  }
  // The sum in ascending rank order, as the blocking all-reduce takes it.
  auto sum = [&](auto *out) {
    using T = std::remove_pointer_t<decltype(out)>;
    std::vector<T> acc(static_cast<size_t>(r.count));
    for (size_t i = 0; i < r.group.size(); ++i) {
      const T *x = r.group[i] == self
                       ? out
                       : reinterpret_cast<const T *>(r.incoming[i].data());
      for (int64_t k = 0; k < r.count; ++k)
        acc[k] = i == 0 ? x[k] : acc[k] + x[k];
    }
    std::copy(acc.begin(), acc.end(), out);
  };
  if (r.type == DType::F32)
    sum(static_cast<float *>(r.data));
  else
    sum(static_cast<double *>(r.data));
  return "";
}

std::string World::allReduceSum(int32_t self, DType type, void *data,
                                int64_t count, const int32_t *ranks,
                                int32_t nranks) {
  std::vector<int32_t> group;
  if (ranks && nranks > 0)
    group.assign(ranks, ranks + nranks);
  std::string op = describeAllReduce(type, count, group);
  if (failed())
    return conclude(self, CommStatus::abandoned(op));

  std::string problem = checkGroup(self, group, data, count);
  if (!problem.empty())
    return reject(self, op, problem);

  return conclude(
      self, traced(self, TraceEvent::Type::AllReduce,
                   static_cast<int32_t>(group.size()), /*tag=*/0,
                   count * dtypeBytes(type), [&] {
                     return transport_->allReduceSum(self, type, data, count,
                                                     group);
                   }));
}

std::string World::barrier(int32_t self) {
  TraceEvent event;
  event.type = TraceEvent::Type::Barrier;
  event.startUs = nowUs();
  CommStatus status = failed()
                          ? CommStatus::abandoned(describeBarrier(size_))
                          : transport_->barrier(self);
  event.durationUs = nowUs() - event.startUs;
  event.failed = !status.ok();
  ranks_[self]->timeline.add(std::move(event));
  return conclude(self, status);
}

std::string World::sendOnStream(int32_t self, int32_t peer, int64_t tag,
                                const void *data, int64_t bytes,
                                void *stream) {
  std::string op = describeSend(peer, tag);
  if (failed())
    return conclude(self, CommStatus::abandoned(op));
  std::string problem = checkP2P(self, peer, data, bytes, "send to");
  if (!problem.empty())
    return reject(self, op, problem);
  return conclude(self, traced(self, TraceEvent::Type::Send, peer, tag, bytes,
                               [&] {
                                 return transport_->sendOnStream(
                                     self, peer, tag, data, bytes, stream,
                                     op + during(self));
                               }));
}

std::string World::recvOnStream(int32_t self, int32_t peer, int64_t tag,
                                void *data, int64_t bytes, void *stream) {
  // Unlike recv, the buffer is not zero-filled on failure: it is device
  // memory that queued work may still use; the world has failed anyway.
  std::string op = describeRecv(peer, tag);
  if (failed())
    return conclude(self, CommStatus::abandoned(op));
  std::string problem = checkP2P(self, peer, data, bytes, "receive from");
  if (!problem.empty())
    return reject(self, op, problem);
  return conclude(self, traced(self, TraceEvent::Type::Recv, peer, tag, bytes,
                               [&] {
                                 return transport_->recvOnStream(
                                     self, peer, tag, data, bytes, stream,
                                     op + during(self));
                               }));
}

std::string World::synchronize(int32_t self) {
  if (failed())
    return conclude(self, CommStatus::abandoned("waiting for queued transfers"));
  return conclude(self, transport_->synchronize(self));
}

void World::beginAction(int32_t self, int32_t kind, int32_t stage,
                        int32_t microbatch) {
  ranks_[self]->actions.push_back({kind, stage, microbatch, nowUs()});
}

void World::endAction(int32_t self) {
  RankState &state = *ranks_[self];
  if (state.actions.empty())
    return; // An unmatched end: nothing sensible to record.
  const ActionFrame &open = state.actions.back();
  TraceEvent event;
  event.type = TraceEvent::Type::Action;
  event.kind = open.kind;
  event.stage = open.stage;
  event.microbatch = open.microbatch;
  event.startUs = open.startUs;
  event.durationUs = nowUs() - open.startUs;
  state.timeline.add(std::move(event));
  if (state.actions.size() == 1)
    state.last = open; // an outermost action ended
  state.actions.pop_back();
}

} // namespace dualpipe::rt
