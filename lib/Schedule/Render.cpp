//===- Render.cpp - SVG timeline, Chrome trace, table, JSON summary -------===//

#include "dualpipe/Schedule/Render.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>

namespace dualpipe::sched {

std::string formatNumber(double v) {
  if (std::isfinite(v) && std::fabs(v - std::round(v)) < 1e-9 && std::fabs(v) < 1e15) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.0f", std::round(v));
    return buf;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

int chunkOf(const Schedule &s, int stage) {
  if (stage < 0 || stage >= static_cast<int>(s.stageToRank.size()))
    return 0;
  int r = s.stageToRank[stage], chunk = 0;
  for (int st = 0; st < stage; ++st)
    if (s.stageToRank[st] == r)
      ++chunk;
  return chunk;
}

namespace {

std::string num(double v) { return formatNumber(v); }

std::string rankStages(const Schedule &s, int r) {
  std::string out;
  for (int st = 0; st < s.numStages; ++st)
    if (s.stageToRank[st] == r)
      out += (out.empty() ? "" : ",") + std::to_string(st);
  return out;
}

/// Fill colours by kind and chunk (chunk parity), after DeepSeek's figure:
/// warm tones for forwards, cool tones for backwards, violet for W.
const char *fillFor(ActionKind k, int chunk) {
  bool second = chunk % 2 == 1;
  switch (k) {
  case ActionKind::Forward:
    return second ? "#ffe699" : "#f8cbad";
  case ActionKind::Backward:
    return second ? "#a9d18e" : "#9dc3e6";
  case ActionKind::BackwardInput:
    return second ? "#d5e8c4" : "#cfe2f3";
  case ActionKind::BackwardWeight:
    return "#d5c3e8";
  case ActionKind::OverlappedFB:
    return "#ffffff";
  }
  return "#ffffff";
}

std::string escapeXml(const std::string &t) {
  std::string o;
  for (char c : t) {
    if (c == '&')
      o += "&amp;";
    else if (c == '<')
      o += "&lt;";
    else if (c == '>')
      o += "&gt;";
    else
      o += c;
  }
  return o;
}

} // namespace

std::string toSVG(const Schedule &s, const SimulationResult &sim, const CostModel &cost) {
  const double makespan = std::max(sim.makespan, 1e-9);
  const double scale = std::clamp(1500.0 / makespan, 6.0, 40.0);
  const double left = 78, top = 58, rowH = 30, gap = 6;
  const double width = left + makespan * scale + 20;
  const double rowsBottom = top + s.numRanks * (rowH + gap);
  const double height = rowsBottom + 70;
  std::string o;
  auto add = [&](const std::string &t) { o += t; };
  add("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + num(std::ceil(width)) +
      "\" height=\"" + num(std::ceil(height)) + "\" viewBox=\"0 0 " +
      num(std::ceil(width)) + " " + num(std::ceil(height)) +
      "\" font-family=\"Helvetica, Arial, sans-serif\">\n");
  add("<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n");
  std::string title = std::string(scheduleTitle(s.kind)) + ": " +
                      std::to_string(s.numRanks) + " ranks, " +
                      std::to_string(s.numMicrobatches) + " micro-batches, " +
                      std::to_string(s.numStages) + " stages. Makespan " +
                      num(sim.makespan) + ", worst-rank bubble " + num(sim.maxBubble()) +
                      " (F=" + num(cost.uniform.f) + ", B=" + num(cost.uniform.b) +
                      ", W=" + num(cost.uniform.w) + ", F&B=" +
                      num(cost.fb < 0 ? cost.uniform.f + cost.uniform.b : cost.fb) + ")";
  add("<text x=\"" + num(left) + "\" y=\"24\" font-size=\"15\" font-weight=\"bold\">" +
      escapeXml(title) + "</text>\n");
  // Time axis.
  double tick = makespan <= 40 ? 5 : makespan <= 200 ? 10 : makespan <= 1000 ? 50 : 100;
  for (double t = 0; t <= makespan + 1e-9; t += tick) {
    double x = left + t * scale;
    add("<line x1=\"" + num(x) + "\" y1=\"" + num(top - 8) + "\" x2=\"" + num(x) +
        "\" y2=\"" + num(rowsBottom) + "\" stroke=\"#eeeeee\"/>\n");
    add("<text x=\"" + num(x) + "\" y=\"" + num(top - 12) +
        "\" font-size=\"10\" text-anchor=\"middle\" fill=\"#666666\">" + num(t) +
        "</text>\n");
  }
  for (int r = 0; r < s.numRanks; ++r) {
    double y = top + r * (rowH + gap);
    add("<text x=\"" + num(left - 8) + "\" y=\"" + num(y + rowH / 2 + 4) +
        "\" font-size=\"12\" text-anchor=\"end\">rank " + std::to_string(r) + "</text>\n");
    if (r >= static_cast<int>(sim.ranks.size()))
      continue;
    for (const TimedAction &ta : sim.ranks[r].timeline) {
      const Action &a = ta.action;
      double x0 = left + ta.start * scale, w = (ta.end - ta.start) * scale;
      auto cell = [&](double x, double cw, ActionKind k, int stage, int mb,
                      const std::string &tip) {
        add("<rect x=\"" + num(x) + "\" y=\"" + num(y) + "\" width=\"" + num(cw) +
            "\" height=\"" + num(rowH) + "\" fill=\"" + fillFor(k, chunkOf(s, stage)) +
            "\" stroke=\"#555555\" stroke-width=\"0.5\"><title>" + escapeXml(tip) +
            "</title></rect>\n");
        double fs = std::min(12.0, std::max(6.0, cw * 0.55));
        add("<text x=\"" + num(x + cw / 2) + "\" y=\"" + num(y + rowH / 2 + fs / 3) +
            "\" font-size=\"" + num(std::round(fs)) + "\" text-anchor=\"middle\">" +
            std::to_string(mb) + "</text>\n");
      };
      std::string tip = formatAction(a) + " [" + num(ta.start) + ", " + num(ta.end) + ")";
      if (!a.isPair()) {
        cell(x0, w, a.kind, a.stage, a.microbatch, tip);
        continue;
      }
      double f = cost.stage(a.stage).f, b = cost.stage(a.bStage).b;
      double fw = f + b > 0 ? w * f / (f + b) : w / 2;
      cell(x0, fw, ActionKind::Forward, a.stage, a.microbatch, tip);
      cell(x0 + fw, w - fw, ActionKind::Backward, a.bStage, a.bMicrobatch, tip);
      add("<rect x=\"" + num(x0) + "\" y=\"" + num(y) + "\" width=\"" + num(w) +
          "\" height=\"" + num(rowH) +
          "\" fill=\"none\" stroke=\"#000000\" stroke-width=\"2\"/>\n");
    }
  }
  // Legend.
  struct Item {
    ActionKind k;
    int chunk;
    const char *label;
  };
  std::vector<Item> items = {{ActionKind::Forward, 0, "F chunk 0"},
                             {ActionKind::Backward, 0, "B chunk 0"},
                             {ActionKind::BackwardInput, 0, "I chunk 0"}};
  if (s.chunksPerRank > 1) {
    items.push_back({ActionKind::Forward, 1, "F chunk 1"});
    items.push_back({ActionKind::Backward, 1, "B chunk 1"});
    items.push_back({ActionKind::BackwardInput, 1, "I chunk 1"});
  }
  items.push_back({ActionKind::BackwardWeight, 0, "W"});
  double lx = left, ly = rowsBottom + 18;
  for (const Item &it : items) {
    add("<rect x=\"" + num(lx) + "\" y=\"" + num(ly) +
        "\" width=\"16\" height=\"12\" fill=\"" + fillFor(it.k, it.chunk) +
        "\" stroke=\"#555555\" stroke-width=\"0.5\"/>\n");
    add("<text x=\"" + num(lx + 20) + "\" y=\"" + num(ly + 10) + "\" font-size=\"11\">" +
        it.label + "</text>\n");
    lx += 92;
  }
  add("<rect x=\"" + num(lx) + "\" y=\"" + num(ly) +
      "\" width=\"16\" height=\"12\" fill=\"none\" stroke=\"#000000\" stroke-width=\"2\"/>\n");
  add("<text x=\"" + num(lx + 20) + "\" y=\"" + num(ly + 10) +
      "\" font-size=\"11\">overlapped F&amp;B pair</text>\n");
  add("<text x=\"" + num(left) + "\" y=\"" + num(ly + 34) +
      "\" font-size=\"11\" fill=\"#444444\">Cells are labelled with micro-batch ids; "
      "chunk 0 is stage r on rank r" +
      std::string(s.chunksPerRank == 2 ? ", chunk 1 is stage 2N-1-r" : "") +
      ".</text>\n");
  add("</svg>\n");
  return o;
}

std::string toChromeTrace(const Schedule &s, const SimulationResult &sim) {
  const double us = 1000; // one cost unit = 1 ms
  std::string o = "{\"displayTimeUnit\":\"ms\",\"traceEvents\":[\n";
  o += "{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":0,\"tid\":0,\"args\":{\"name\":\"" +
       std::string(scheduleTitle(s.kind)) + " N=" + std::to_string(s.numRanks) +
       " M=" + std::to_string(s.numMicrobatches) + "\"}}";
  for (int r = 0; r < s.numRanks; ++r) {
    o += ",\n{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":0,\"tid\":" +
         std::to_string(r) + ",\"args\":{\"name\":\"rank " + std::to_string(r) + "\"}}";
    o += ",\n{\"name\":\"thread_sort_index\",\"ph\":\"M\",\"pid\":0,\"tid\":" +
         std::to_string(r) + ",\"args\":{\"sort_index\":" + std::to_string(r) + "}}";
  }
  for (int r = 0; r < static_cast<int>(sim.ranks.size()); ++r)
    for (const TimedAction &ta : sim.ranks[r].timeline) {
      const Action &a = ta.action;
      std::string cat = a.isPair() ? "F&B" : std::string(1, kindLetter(a.kind));
      o += ",\n{\"name\":\"" + formatAction(a) + "\",\"cat\":\"" + cat +
           "\",\"ph\":\"X\",\"pid\":0,\"tid\":" + std::to_string(r) +
           ",\"ts\":" + num(ta.start * us) + ",\"dur\":" + num((ta.end - ta.start) * us) +
           ",\"args\":{\"stage\":" + std::to_string(a.stage) +
           ",\"microbatch\":" + std::to_string(a.microbatch) +
           ",\"chunk\":" + std::to_string(chunkOf(s, a.stage));
      if (a.isPair())
        o += ",\"b_stage\":" + std::to_string(a.bStage) +
             ",\"b_microbatch\":" + std::to_string(a.bMicrobatch);
      o += "}}";
    }
  o += "\n]}\n";
  return o;
}

std::string toTable(const Schedule &s, const SimulationResult &sim) {
  std::string o;
  o += std::string(scheduleTitle(s.kind)) + ": " + std::to_string(s.numRanks) +
       " ranks, " + std::to_string(s.numMicrobatches) + " micro-batches, " +
       std::to_string(s.numStages) + " stages, " + std::to_string(s.chunksPerRank) +
       " chunk(s) per rank\n";
  o += "makespan " + num(sim.makespan) + ", worst-rank bubble " + num(sim.maxBubble()) +
       ", bubble ratio " + num(std::round(sim.bubbleRatio() * 10000) / 10000) +
       ", parameter copies per device " + std::to_string(sim.parameterCopies) + "x\n\n";
  char line[160];
  std::snprintf(line, sizeof line, "%-5s %-8s %8s %8s %8s %8s %8s\n", "rank", "stages",
                "actions", "busy", "bubble", "peak-act", "end");
  o += line;
  for (int r = 0; r < s.numRanks; ++r) {
    const RankResult &rr = sim.ranks[r];
    double end = rr.timeline.empty() ? 0 : rr.timeline.back().end;
    std::snprintf(line, sizeof line, "%-5d %-8s %8zu %8s %8s %8d %8s\n", r,
                  rankStages(s, r).c_str(), s.ranks[r].size(), num(rr.busy).c_str(),
                  num(rr.bubble).c_str(), rr.peakActivations, num(end).c_str());
    o += line;
  }
  o += "\n";
  for (int r = 0; r < s.numRanks; ++r) {
    o += "rank " + std::to_string(r) + ":";
    for (const Action &a : s.ranks[r])
      o += " " + formatAction(a);
    o += "\n";
  }
  return o;
}

std::string toSummaryJSON(const Schedule &s, const SimulationResult &sim) {
  std::string o = "{\"schedule\": \"" + std::string(scheduleName(s.kind)) +
                  "\", \"ranks_count\": " + std::to_string(s.numRanks) +
                  ", \"stages\": " + std::to_string(s.numStages) +
                  ", \"microbatches\": " + std::to_string(s.numMicrobatches) +
                  ", \"makespan\": " + num(sim.makespan) +
                  ", \"max_bubble\": " + num(sim.maxBubble()) +
                  ", \"bubble_ratio\": " + num(sim.bubbleRatio()) +
                  ", \"parameter_copies\": " + std::to_string(sim.parameterCopies) +
                  ", \"ranks\": [";
  for (size_t r = 0; r < sim.ranks.size(); ++r) {
    const RankResult &rr = sim.ranks[r];
    o += std::string(r ? ", " : "") + "{\"rank\": " + std::to_string(r) +
         ", \"busy\": " + num(rr.busy) + ", \"bubble\": " + num(rr.bubble) +
         ", \"peak_activations\": " + std::to_string(rr.peakActivations) +
         ", \"peak_activation_bytes\": " + num(rr.peakActivationBytes) +
         ", \"parameter_bytes\": " + num(rr.parameterBytes) + "}";
  }
  return o + "]}\n";
}

} // namespace dualpipe::sched
