//===- Transport.cpp - Wording shared by every transport ------------------===//

#include "Transport.h"

#include <algorithm>
#include <thread>

#include <cmath>
#include <cstdio>

namespace dualpipe::rt {

std::string formatSeconds(std::chrono::nanoseconds duration) {
  double seconds = std::chrono::duration<double>(duration).count();
  char text[64];
  if (std::fabs(seconds * 10 - std::round(seconds * 10)) < 1e-9)
    std::snprintf(text, sizeof text, "%.1f s", seconds);
  else
    std::snprintf(text, sizeof text, "%g s", seconds);
  return text;
}

std::string describeSend(int32_t peer, int64_t tag) {
  return "send to rank " + std::to_string(peer) + " (tag " +
         std::to_string(tag) + ")";
}

std::string describeRecv(int32_t peer, int64_t tag) {
  return "receive from rank " + std::to_string(peer) + " (tag " +
         std::to_string(tag) + ")";
}

std::string formatRanks(const std::vector<int32_t> &ranks) {
  std::string text;
  for (size_t i = 0; i < ranks.size(); ++i)
    text += (i ? ", " : "") + std::to_string(ranks[i]);
  return text;
}

std::string describeAllReduce(DType type, int64_t count,
                              const std::vector<int32_t> &group) {
  return "all-reduce (sum of " + std::to_string(count) + " " +
         dtypeName(type) + ") over ranks [" + formatRanks(group) + "]";
}

std::string describeBarrier(int32_t worldSize) {
  return "barrier over all " + std::to_string(worldSize) + " ranks";
}

int64_t monotonicNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

CommStatus Transport::postRecv(int32_t self, int32_t peer, int64_t tag,
                               void *data, int64_t bytes, int64_t request) {
  std::lock_guard<std::mutex> lock(deferredMutex_);
  deferred_[{self, request}] = {self, peer, tag, data, bytes};
  return CommStatus::success();
}

CommStatus Transport::waitRecv(int32_t self, int64_t request,
                               TransferTimes &times) {
  Deferred d;
  {
    std::lock_guard<std::mutex> lock(deferredMutex_);
    auto it = deferred_.find({self, request});
    if (it == deferred_.end())
      return CommStatus::failed("wait for request " + std::to_string(request),
                                ": no such posted receive");
    d = it->second;
    deferred_.erase(it);
  }
  CommStatus status = recv(d.self, d.peer, d.tag, d.data, d.bytes);
  times.arrivedNs = monotonicNs();
  return status;
}

void backoff(int &idle) {
  ++idle;
  if (idle < 64)
    return;
  if (idle < 256) {
    std::this_thread::yield();
    return;
  }
  std::this_thread::sleep_for(
      std::chrono::microseconds(std::min(1000, 10 * (idle - 255))));
}

} // namespace dualpipe::rt
