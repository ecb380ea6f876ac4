//===- Trace.cpp - Chrome trace JSON for the timeline ---------------------===//

#include "Trace.h"

#include <nlohmann/json.hpp>

#include <algorithm>

namespace dualpipe::rt {

std::string actionKindName(int32_t kind) {
  switch (kind) {
  case 0:
    return "F";
  case 1:
    return "B";
  case 2:
    return "I";
  case 3:
    return "W";
  case 4:
    return "F&B";
  default:
    return "kind " + std::to_string(kind);
  }
}

std::string actionShortName(int32_t kind, int32_t stage, int32_t microbatch) {
  std::string name = actionKindName(kind);
  if (stage >= 0)
    name += " s" + std::to_string(stage);
  if (microbatch >= 0)
    name += " mb" + std::to_string(microbatch);
  return name;
}

std::string actionLongName(int32_t kind, int32_t stage, int32_t microbatch) {
  std::string name = actionKindName(kind);
  if (stage >= 0)
    name += " of stage " + std::to_string(stage);
  if (microbatch >= 0)
    name += std::string(stage >= 0 ? ", " : " of ") + "micro-batch " +
            std::to_string(microbatch);
  return name;
}

namespace {

using nlohmann::json;

json renderEvent(const TraceEvent &e, int32_t rank) {
  json out = {{"pid", rank}, {"tid", 0}, {"ts", e.startUs}};
  json args = json::object();
  switch (e.type) {
  case TraceEvent::Type::Action:
    out["name"] = actionShortName(e.kind, e.stage, e.microbatch);
    out["cat"] = "compute";
    args["kind"] = actionKindName(e.kind);
    args["stage"] = e.stage;
    args["microbatch"] = e.microbatch;
    if (e.failed)
      args["unfinished"] = true;
    break;
  case TraceEvent::Type::Send:
  case TraceEvent::Type::Recv:
    out["name"] = (e.type == TraceEvent::Type::Send ? "send to "
                   : e.postUs >= 0                 ? "wait recv from "
                                                   : "recv from ") +
                  std::to_string(e.peer) + " tag " + std::to_string(e.tag);
    out["cat"] = "p2p";
    args["peer"] = e.peer;
    args["tag"] = e.tag;
    args["bytes"] = e.bytes;
    if (e.postUs >= 0)
      args["posted_us"] = e.postUs;
    if (e.sentUs >= 0)
      args["sent_us"] = e.sentUs;
    if (e.arrivedUs >= 0)
      args["arrived_us"] = e.arrivedUs;
    break;
  case TraceEvent::Type::AllReduce:
    out["name"] = "all-reduce";
    out["cat"] = "collective";
    args["group_size"] = e.peer;
    args["bytes"] = e.bytes;
    break;
  case TraceEvent::Type::Barrier:
    out["name"] = "barrier";
    out["cat"] = "collective";
    break;
  case TraceEvent::Type::Error:
    out["name"] = "error";
    out["cat"] = "error";
    out["ph"] = "i";
    out["s"] = "p";
    args["message"] = e.message;
    out["args"] = std::move(args);
    return out;
  }
  if (e.failed && e.type != TraceEvent::Type::Action)
    args["failed"] = true;
  out["ph"] = "X";
  out["dur"] = e.durationUs;
  out["args"] = std::move(args);
  return out;
}

/// The events of a receive's transfer on the rank's "transfers" track
/// (tid 1): the post (an instant) and the bytes in flight, sent to arrived.
void renderTransfer(const TraceEvent &e, int32_t rank, json &events) {
  std::string link =
      "from " + std::to_string(e.peer) + " tag " + std::to_string(e.tag);
  if (e.postUs >= 0)
    events.push_back({{"ph", "i"}, {"s", "t"}, {"pid", rank}, {"tid", 1},
                      {"ts", e.postUs}, {"name", "post recv " + link},
                      {"cat", "transfer"}});
  if (e.sentUs >= 0 && e.arrivedUs >= e.sentUs)
    events.push_back({{"ph", "X"}, {"pid", rank}, {"tid", 1},
                      {"ts", e.sentUs}, {"dur", e.arrivedUs - e.sentUs},
                      {"name", "transfer " + link}, {"cat", "transfer"},
                      {"args", {{"bytes", e.bytes}, {"posted_us", e.postUs}}}});
}

using Interval = std::pair<double, double>;

/// The time of [lo, hi) inside the sorted, disjoint `busy` intervals.
double overlap(const std::vector<Interval> &busy, double lo, double hi) {
  double total = 0;
  auto it = std::lower_bound(busy.begin(), busy.end(), Interval{lo, lo},
                             [](const Interval &a, const Interval &b) {
                               return a.second < b.first;
                             });
  for (; it != busy.end() && it->first < hi; ++it)
    total += std::max(0.0, std::min(hi, it->second) - std::max(lo, it->first));
  return total;
}

} // namespace

CommSummary summarizeComm(const std::vector<TraceEvent> &events) {
  // Compute: the union of the action intervals (a pair nests its halves).
  std::vector<Interval> spans;
  for (const TraceEvent &e : events)
    if (e.type == TraceEvent::Type::Action)
      spans.push_back({e.startUs, e.startUs + e.durationUs});
  std::sort(spans.begin(), spans.end());
  std::vector<Interval> busy;
  for (const Interval &span : spans) {
    if (!busy.empty() && span.first <= busy.back().second)
      busy.back().second = std::max(busy.back().second, span.second);
    else
      busy.push_back(span);
  }
  CommSummary summary;
  for (const TraceEvent &e : events) {
    if (e.failed)
      continue;
    if (e.type == TraceEvent::Type::Recv && e.sentUs >= 0 &&
        e.arrivedUs >= e.sentUs) {
      ++summary.messages;
      summary.transferUs += e.arrivedUs - e.sentUs;
      summary.transferHiddenUs += overlap(busy, e.sentUs, e.arrivedUs);
    } else if (e.type == TraceEvent::Type::AllReduce) {
      ++summary.allReduces;
      summary.allReduceUs += e.durationUs;
      summary.allReduceHiddenUs +=
          overlap(busy, e.startUs, e.startUs + e.durationUs);
    }
  }
  return summary;
}

std::string renderChromeTrace(const std::vector<std::vector<TraceEvent>> &ranks,
                              const TraceInfo &info) {
  json events = json::array();
  for (size_t r = 0; r < ranks.size(); ++r) {
    int32_t rank = static_cast<int32_t>(r);
    std::string label = "rank " + std::to_string(rank);
    events.push_back({{"ph", "M"}, {"pid", rank}, {"name", "process_name"},
                      {"args", {{"name", label}}}});
    events.push_back({{"ph", "M"}, {"pid", rank}, {"name", "process_sort_index"},
                      {"args", {{"sort_index", rank}}}});
    events.push_back({{"ph", "M"}, {"pid", rank}, {"tid", 0},
                      {"name", "thread_name"}, {"args", {{"name", label}}}});
    // Events are recorded when they end; by start (outer first) reads better.
    std::vector<const TraceEvent *> order;
    for (const TraceEvent &e : ranks[r])
      order.push_back(&e);
    std::stable_sort(order.begin(), order.end(),
                     [](const TraceEvent *a, const TraceEvent *b) {
                       if (a->startUs != b->startUs)
                         return a->startUs < b->startUs;
                       return a->durationUs > b->durationUs;
                     });
    events.push_back({{"ph", "M"}, {"pid", rank}, {"tid", 1},
                      {"name", "thread_name"},
                      {"args", {{"name", label + " transfers in"}}}});
    for (const TraceEvent *e : order) {
      events.push_back(renderEvent(*e, rank));
      if (e->type == TraceEvent::Type::Recv)
        renderTransfer(*e, rank, events);
    }
  }
  json other = {{"backend", info.backend},
                {"world_size", static_cast<int64_t>(ranks.size())}};
  if (!info.error.empty())
    other["error"] = info.error;
  if (info.droppedEvents > 0)
    other["dropped_events"] = info.droppedEvents;
  json trace = {{"traceEvents", std::move(events)},
                {"displayTimeUnit", "ms"},
                {"otherData", std::move(other)}};
  // Replace invalid UTF-8 (from a user's error message) instead of throwing.
  return trace.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
}

} // namespace dualpipe::rt
