//===- TextForm.cpp - CSV schedules in PyTorch's action grammar -----------===//

#include "dualpipe/Schedule/TextForm.h"

#include "dualpipe/Schedule/Validator.h"

#include <algorithm>
#include <climits>
#include <set>

namespace dualpipe::sched {

std::string toCSV(const Schedule &schedule) {
  std::string out;
  static const std::vector<CommAction> none;
  auto commsOf = [&](size_t r) -> const std::vector<CommAction> & {
    return r < schedule.comms.size() ? schedule.comms[r] : none;
  };
  // parseCSV drops trailing blank lines, so a rank with nothing to do after
  // the last busy one is written as one empty quoted field (as Python's
  // csv module writes a row holding one empty string), which reads back as
  // a rank with no actions.
  size_t busy = 0;
  for (size_t r = 0; r < schedule.ranks.size(); ++r)
    if (!schedule.ranks[r].empty() || !commsOf(r).empty())
      busy = r + 1;
  for (size_t r = 0; r < schedule.ranks.size(); ++r) {
    const auto &rank = schedule.ranks[r];
    const auto &comms = commsOf(r);
    if (r >= busy) {
      out += "\"\"\n";
      continue;
    }
    bool first = true;
    auto field = [&](const std::string &f) {
      if (!first)
        out += ',';
      out += f;
      first = false;
    };
    size_t c = 0;
    for (size_t i = 0; i <= rank.size(); ++i) {
      for (; c < comms.size() && comms[c].before <= static_cast<int>(i); ++c)
        field(formatCommAction(comms[c]));
      if (i < rank.size())
        field(formatAction(rank[i]));
    }
    for (; c < comms.size(); ++c)
      field(formatCommAction(comms[c]));
    out += '\n';
  }
  return out;
}

namespace {

std::string str(long v) { return std::to_string(v); }

/// A cursor over one field of the CSV, reporting 1-based columns relative
/// to the start of the line.
class Cursor {
public:
  Cursor(const std::string &text, size_t begin, size_t end, size_t column0)
      : t_(text), pos_(begin), end_(end), col0_(column0) {}

  bool atEnd() const { return pos_ >= end_; }
  char peek() const { return atEnd() ? '\0' : t_[pos_]; }
  size_t column() const { return col0_ + pos_; }
  void advance() { ++pos_; }
  Error error(const std::string &what) const {
    return Error{"column " + str(static_cast<long>(column())) + ": " + what};
  }
  std::string found() const {
    if (atEnd())
      return "end of field";
    return std::string("'") + peek() + "'";
  }

  /// Digits -> non-negative int.
  std::optional<int> number() {
    if (atEnd() || !isdigit(static_cast<unsigned char>(peek())))
      return std::nullopt;
    long v = 0;
    while (!atEnd() && isdigit(static_cast<unsigned char>(peek()))) {
      v = v * 10 + (peek() - '0');
      if (v > INT_MAX / 2)
        return std::nullopt;
      advance();
    }
    return static_cast<int>(v);
  }
  bool literal(const char *lit) {
    size_t n = std::char_traits<char>::length(lit);
    if (end_ - pos_ < n || t_.compare(pos_, n, lit) != 0)
      return false;
    pos_ += n;
    return true;
  }

private:
  const std::string &t_;
  size_t pos_, end_, col0_;
};

const char *kNonCompute =
    "; non-compute actions are SEND_F, RECV_F, SEND_B, RECV_B (with a micro-batch), "
    "UNSHARD, RESHARD and REDUCE_GRAD";

/// After a stage number: a non-compute kind, or nullopt (cursor unmoved).
std::optional<CommKind> commKindAt(Cursor &c) {
  static const std::pair<const char *, CommKind> kinds[] = {
      {"SEND_F", CommKind::SendF},   {"RECV_F", CommKind::RecvF},
      {"SEND_B", CommKind::SendB},   {"RECV_B", CommKind::RecvB},
      {"UNSHARD", CommKind::Unshard}, {"RESHARD", CommKind::Reshard},
      {"REDUCE_GRAD", CommKind::ReduceGrad}};
  for (auto &[text, kind] : kinds)
    if (c.literal(text))
      return kind;
  return std::nullopt;
}

/// The rest of a non-compute action after its stage and kind.
Expected<CommAction> parseCommRest(Cursor &c, int stage, CommKind kind) {
  CommAction a{kind, stage, -1, 0};
  if (a.hasMicrobatch()) {
    std::optional<int> mb = c.number();
    if (!mb)
      return c.error(std::string("expected a micro-batch number after '") +
                     commKindName(kind) + "', found " + c.found());
    a.microbatch = *mb;
  } else if (!c.atEnd() && isdigit(static_cast<unsigned char>(c.peek()))) {
    return c.error(std::string(commKindName(kind)) + " names a stage only, not a "
                   "micro-batch; found " + c.found());
  }
  if (!c.atEnd())
    return c.error("unexpected " + c.found() + " after the action; actions are "
                   "separated by ','");
  return a;
}

Expected<Action> parseSingle(Cursor &c, const char *context) {
  std::optional<int> stage = c.number();
  if (!stage)
    return c.error(std::string("expected a stage number") + context + ", found " +
                   c.found());
  char k = c.peek();
  ActionKind kind;
  switch (k) {
  case 'F':
    kind = ActionKind::Forward;
    break;
  case 'B':
    kind = ActionKind::Backward;
    break;
  case 'I':
    kind = ActionKind::BackwardInput;
    break;
  case 'W':
    kind = ActionKind::BackwardWeight;
    break;
  default:
    return c.error("expected an action kind F, B, I or W after the stage number, "
                   "found " + c.found() + (*context ? "" : kNonCompute));
  }
  c.advance();
  std::optional<int> mb = c.number();
  if (!mb)
    return c.error(std::string("expected a micro-batch number after '") + k +
                   "', found " + c.found());
  return Action{kind, *stage, *mb};
}

Expected<Action> parseActionAt(Cursor &c) {
  if (c.peek() != '(') {
    Expected<Action> a = parseSingle(c, "");
    if (!a)
      return a;
    if (!c.atEnd())
      return c.error("unexpected " + c.found() + " after the action; actions are "
                     "separated by ','");
    return a;
  }
  c.advance();
  size_t fCol = c.column();
  Expected<Action> f = parseSingle(c, " in the overlapped pair");
  if (!f)
    return f;
  if (f->kind != ActionKind::Forward)
    return Error{"column " + str(static_cast<long>(fCol)) +
                 ": the first action of an overlapped pair must be a forward (F)"};
  if (c.peek() != ';')
    return c.error("expected ';' between the two actions of an overlapped pair, "
                   "found " + c.found());
  c.advance();
  size_t bCol = c.column();
  Expected<Action> b = parseSingle(c, " in the overlapped pair");
  if (!b)
    return b;
  if (b->kind != ActionKind::Backward)
    return Error{"column " + str(static_cast<long>(bCol)) +
                 ": the second action of an overlapped pair must be a full backward (B)"};
  if (!c.literal(")OVERLAP_F_B"))
    return c.error("expected ')OVERLAP_F_B' to close the overlapped pair, found " +
                   c.found());
  if (!c.atEnd())
    return c.error("unexpected " + c.found() + " after the overlapped pair");
  return Action::pair(f->stage, f->microbatch, b->stage, b->microbatch);
}

/// Infers the placement of a schedule read without a name.
Expected<Placement> inferPlacement(const std::vector<std::vector<Action>> &ranks,
                                   int numMicrobatches) {
  const int n = static_cast<int>(ranks.size());
  int maxStage = -1;
  for (const auto &r : ranks)
    for (const Action &a : r)
      for (int p = 0; p < a.numParts(); ++p)
        maxStage = std::max(maxStage, a.part(p).stage);
  if (maxStage < 0)
    return Error{"the file holds no actions, so the placement cannot be inferred"};
  const int numStages = maxStage + 1;
  std::vector<int> stageToRank(numStages, -1);
  std::vector<std::set<int>> rankStages(n);
  for (int r = 0; r < n; ++r)
    for (const Action &a : ranks[r])
      for (int p = 0; p < a.numParts(); ++p) {
        int st = a.part(p).stage;
        if (stageToRank[st] >= 0 && stageToRank[st] != r)
          return Error{"stage " + str(st) + " appears on ranks " + str(stageToRank[st]) +
                       " and " + str(r) + "; a stage is placed on one rank"};
        stageToRank[st] = r;
        rankStages[r].insert(st);
      }
  for (int st = 0; st < numStages; ++st)
    if (stageToRank[st] < 0)
      return Error{"stage " + str(st) + " appears on no rank (the file names stages up to " +
                   str(maxStage) + "), so the placement cannot be inferred; pass "
                   "--schedule=NAME"};

  auto single = [&](int stages) {
    Pipeline p;
    for (int st = 0; st < stages; ++st)
      p.stages.push_back(st);
    p.firstMicrobatch = 0;
    p.numMicrobatches = numMicrobatches;
    return p;
  };
  Placement pl;
  pl.numStages = numStages;
  pl.stageToRank = stageToRank;
  int maxChunks = 0;
  for (const auto &st : rankStages)
    maxChunks = std::max(maxChunks, static_cast<int>(st.size()));
  pl.chunksPerRank = std::max(1, maxChunks);

  bool isV = numStages == 2 * n;
  for (int st = 0; st < numStages && isV; ++st) {
    int r = stageToRank[st];
    isV = st == r || st == 2 * n - 1 - r;
  }
  if (isV && n > 1) {
    std::set<int> low, high;
    for (int r = 0; r < n; ++r)
      for (const Action &a : ranks[r])
        for (int p = 0; p < a.numParts(); ++p)
          (a.part(p).stage < n ? low : high).insert(a.part(p).microbatch);
    bool disjoint = true;
    for (int mb : low)
      if (high.count(mb))
        disjoint = false;
    if (low == high) {
      pl.pipelines.push_back(single(numStages));
      return pl;
    }
    if (disjoint && !low.empty() && !high.empty()) {
      // DualPipe: two pipelines, each over a contiguous range.
      Pipeline a, b;
      for (int st = 0; st < n; ++st) {
        a.stages.push_back(st);
        b.stages.push_back(n + st);
      }
      a.firstMicrobatch = *low.begin();
      a.numMicrobatches = *low.rbegin() - *low.begin() + 1;
      b.firstMicrobatch = *high.begin();
      b.numMicrobatches = *high.rbegin() - *high.begin() + 1;
      pl.pipelines = {a, b};
      return pl;
    }
    return Error{"the file uses the V placement (rank r holds stages r and 2N-1-r) but "
                 "is ambiguous: the micro-batches of stages 0.." + str(n - 1) +
                 " and " + str(n) + ".." + str(2 * n - 1) +
                 " neither coincide (one pipeline: DualPipeV, ZB-V) nor are disjoint "
                 "(two pipelines: DualPipe); pass --schedule=dualpipe, dualpipev or zbv"};
  }
  pl.pipelines.push_back(single(numStages));
  return pl;
}

/// Whether line `lineNo` (1-based) holds anything but blanks.
bool lastLineHadText(const std::string &text, size_t lineNo) {
  size_t pos = 0;
  for (size_t l = 1; l < lineNo; ++l) {
    pos = text.find('\n', pos);
    if (pos == std::string::npos)
      return false;
    ++pos;
  }
  size_t end = text.find('\n', pos);
  if (end == std::string::npos)
    end = text.size();
  for (size_t i = pos; i < end; ++i)
    if (text[i] != ' ' && text[i] != '\t' && text[i] != '\r')
      return true;
  return false;
}

/// One CSV field: a compute action, or (commOut set) a non-compute one.
Expected<Action> parseField(Cursor &c, std::optional<CommAction> &commOut) {
  commOut.reset();
  if (c.peek() != '(') {
    Cursor probe = c;
    std::optional<int> stage = probe.number();
    if (stage) {
      if (std::optional<CommKind> kind = commKindAt(probe)) {
        Expected<CommAction> a = parseCommRest(probe, *stage, *kind);
        if (!a)
          return a.error();
        commOut = *a;
        return Action{};
      }
    }
  }
  return parseActionAt(c);
}

} // namespace

Expected<Action> parseAction(const std::string &text) {
  Cursor c(text, 0, text.size(), 1);
  return parseActionAt(c);
}

Expected<CommAction> parseCommAction(const std::string &text) {
  Cursor c(text, 0, text.size(), 1);
  std::optional<int> stage = c.number();
  if (!stage)
    return c.error("expected a stage number, found " + c.found());
  std::optional<CommKind> kind = commKindAt(c);
  if (!kind)
    return c.error("expected SEND_F, RECV_F, SEND_B, RECV_B, UNSHARD, RESHARD or "
                   "REDUCE_GRAD after the stage number, found " + c.found());
  return parseCommRest(c, *stage, *kind);
}

Expected<Schedule> parseCSV(const std::string &text, const ParseOptions &opts) {
  std::vector<std::vector<Action>> ranks;
  std::vector<std::vector<CommAction>> comms;
  bool anyComm = false;
  int maxMb = -1, maxStage = -1;
  long numParts = 0;
  std::string maxMbAt, maxStageAt;
  size_t lineStart = 0;
  int lineNo = 0;
  while (lineStart < text.size()) {
    size_t lineEnd = text.find('\n', lineStart);
    if (lineEnd == std::string::npos)
      lineEnd = text.size();
    ++lineNo;
    size_t contentEnd = lineEnd;
    if (contentEnd > lineStart && text[contentEnd - 1] == '\r')
      --contentEnd;
    std::vector<Action> actions;
    std::vector<CommAction> rankComms;
    size_t fieldStart = lineStart;
    while (fieldStart <= contentEnd) {
      size_t fieldEnd = text.find(',', fieldStart);
      if (fieldEnd == std::string::npos || fieldEnd > contentEnd)
        fieldEnd = contentEnd;
      size_t b = fieldStart, e = fieldEnd;
      while (b < e && (text[b] == ' ' || text[b] == '\t'))
        ++b;
      while (e > b && (text[e - 1] == ' ' || text[e - 1] == '\t'))
        --e;
      // Python's csv module quotes a field holding a delimiter or a quote.
      if (e - b >= 2 && text[b] == '"' && text[e - 1] == '"') {
        ++b;
        --e;
      }
      // Empty fields (idle slots in torch's dumps, or an empty line: a rank
      // with no actions) hold no action.
      if (b < e) {
        Cursor c(text, b, e, 1 - lineStart);
        std::optional<CommAction> comm;
        Expected<Action> a = parseField(c, comm);
        if (!a)
          return Error{"line " + str(lineNo) + ", " + a.error().message};
        auto note = [&](int stage, int mb) {
          if (mb > maxMb) {
            maxMb = mb;
            maxMbAt = "line " + str(lineNo) + ", column " + str(long(b - lineStart + 1));
          }
          if (stage > maxStage) {
            maxStage = stage;
            maxStageAt = "line " + str(lineNo) + ", column " + str(long(b - lineStart + 1));
          }
        };
        if (comm) {
          comm->before = static_cast<int>(actions.size());
          note(comm->stage, comm->microbatch);
          rankComms.push_back(*comm);
          anyComm = true;
        } else {
          for (int p = 0; p < a->numParts(); ++p)
            note(a->part(p).stage, a->part(p).microbatch);
          numParts += a->numParts();
          actions.push_back(*a);
        }
      }
      fieldStart = fieldEnd + 1;
    }
    ranks.push_back(std::move(actions));
    comms.push_back(std::move(rankComms));
    lineStart = lineEnd + 1;
  }
  // Trailing blank lines are not ranks.
  while (!ranks.empty() && ranks.back().empty() && comms.back().empty() &&
         !lastLineHadText(text, ranks.size())) {
    ranks.pop_back();
    comms.pop_back();
  }
  if (ranks.empty())
    return Error{"line 1, column 1: the file is empty; expected one line of actions per "
                 "rank"};

  Schedule s;
  s.numRanks = static_cast<int>(ranks.size());
  s.numMicrobatches = opts.numMicrobatches > 0 ? opts.numMicrobatches : maxMb + 1;
  if (s.numMicrobatches < 1)
    return Error{"the file holds no actions, so the number of micro-batches is unknown"};
  // Every (stage, micro-batch) of a schedule needs a forward, and a
  // pipeline holds at most half of the stage x micro-batch pairs (two for
  // DualPipe): numbers far beyond what the file's actions can cover are a
  // typo, and would make the placement and the validator's tables huge.
  long pairs = long(maxStage + 1) * long(s.numMicrobatches);
  if (pairs > 2 * numParts + 64) {
    std::string what =
        s.numMicrobatches <= maxStage + 1 ? maxStageAt + ": stage " + str(maxStage)
        : opts.numMicrobatches > 0        ? str(s.numMicrobatches) + " micro-batches"
                                          : maxMbAt + ": micro-batch " + str(maxMb);
    return Error{what + " is out of range: " + str(maxStage + 1) + " stages x " +
                 str(s.numMicrobatches) + " micro-batches need at least " +
                 str(pairs / 2) + " forward actions, and the file holds " +
                 str(numParts) + " actions; number stages and micro-batches from 0 "
                 "without gaps"};
  }
  Expected<Placement> pl = Error{""};
  if (opts.kind) {
    s.kind = *opts.kind;
    int chunks = opts.chunks;
    if (chunks <= 0) {
      int maxStage = 0;
      for (const auto &r : ranks)
        for (const Action &a : r)
          for (int p = 0; p < a.numParts(); ++p)
            maxStage = std::max(maxStage, a.part(p).stage);
      chunks = maxStage / s.numRanks + 1;
    }
    pl = placementFor(*opts.kind, s.numRanks, s.numMicrobatches, chunks);
  } else {
    s.kind = ScheduleKind::Custom;
    pl = inferPlacement(ranks, s.numMicrobatches);
  }
  if (!pl)
    return pl.error();
  s.numStages = pl->numStages;
  s.chunksPerRank = pl->chunksPerRank;
  s.stageToRank = pl->stageToRank;
  s.pipelines = pl->pipelines;
  s.ranks = std::move(ranks);
  if (anyComm)
    s.comms = std::move(comms);
  return s;
}

std::optional<std::string> scheduleFilePath(const std::string &value) {
  if (value.rfind("file:", 0) == 0)
    return value.substr(5);
  if (value.size() > 4 && value.compare(value.size() - 4, 4, ".csv") == 0)
    return value;
  return std::nullopt;
}

Expected<PlacementKind> placementOfSchedule(const Schedule &s) {
  const int n = s.numRanks, S = s.numStages, m = s.numMicrobatches;
  auto onePipeline = [&]() {
    if (s.pipelines.size() != 1 || s.pipelines[0].firstMicrobatch != 0 ||
        s.pipelines[0].numMicrobatches != m ||
        static_cast<int>(s.pipelines[0].stages.size()) != S)
      return false;
    for (int st = 0; st < S; ++st)
      if (s.pipelines[0].stages[st] != st)
        return false;
    return true;
  };
  auto mapIs = [&](PlacementKind kind) {
    if (static_cast<int>(s.stageToRank.size()) != S)
      return false;
    for (int st = 0; st < S; ++st)
      if (s.stageToRank[st] != rankOfStage(kind, st, S, n))
        return false;
    return true;
  };
  if (n >= 1 && S >= n && mapIs(PlacementKind::Linear) && onePipeline())
    return PlacementKind::Linear;
  if (n >= 1 && S % n == 0 && mapIs(PlacementKind::Interleaved) && onePipeline())
    return PlacementKind::Interleaved;
  if (S == 2 * n && mapIs(PlacementKind::DualPipe) && s.pipelines.size() == 2) {
    const Pipeline &a = s.pipelines[0], &b = s.pipelines[1];
    bool split = a.firstMicrobatch == 0 && a.numMicrobatches == m / 2 &&
                 b.firstMicrobatch == m / 2 && b.numMicrobatches == m - m / 2;
    if (!split)
      return Error{"the file has DualPipe's two pipelines, but pipeline A (stages 0.." +
                   str(n - 1) + ") carries micro-batches " + str(a.firstMicrobatch) + ".." +
                   str(a.firstMicrobatch + a.numMicrobatches - 1) +
                   " and pipeline B micro-batches " + str(b.firstMicrobatch) + ".." +
                   str(b.firstMicrobatch + b.numMicrobatches - 1) +
                   "; the compiled DualPipe placement sends micro-batches 0.." +
                   str(m / 2 - 1) + " through A and " + str(m / 2) + ".." + str(m - 1) +
                   " through B (as dualpipe-sched --schedule=dualpipe writes them)"};
    return PlacementKind::DualPipe;
  }
  if (S == 2 * n && mapIs(PlacementKind::DualPipeV) && onePipeline())
    return PlacementKind::DualPipeV;
  std::string map;
  for (int st = 0; st < S && st < 16; ++st)
    map += (st ? ", " : "") + str(st) + "->" +
           str(st < static_cast<int>(s.stageToRank.size()) ? s.stageToRank[st] : -1);
  if (S > 16)
    map += ", ...";
  return Error{"the file places its " + str(S) + " stages on " + str(n) +
               " ranks as stage->rank " + map +
               ", which is none of the compiled placements: linear (stage s on rank "
               "s*N/S), interleaved (s mod N), dualpipe (2N stages: s < N on s, N+s on "
               "N-1-s) or dualpipev (2N stages: s on min(s, 2N-1-s)); renumber the stages "
               "to one of them"};
}

Expected<Schedule> readScheduleForCompile(const std::string &text,
                                          const CompileScheduleRequest &request,
                                          PlacementKind *placementOut) {
  ParseOptions po;
  if (request.placement) {
    switch (*request.placement) {
    case PlacementKind::Linear:
      po.kind = ScheduleKind::OneFOneB;
      break;
    case PlacementKind::Interleaved:
      po.kind = ScheduleKind::Interleaved1F1B;
      break;
    case PlacementKind::DualPipe:
      po.kind = ScheduleKind::DualPipe;
      break;
    case PlacementKind::DualPipeV:
      po.kind = ScheduleKind::DualPipeV;
      break;
    }
  }
  Expected<Schedule> parsed = parseCSV(text, po);
  if (!parsed)
    return parsed.error();
  Schedule &s = *parsed;
  s.kind = ScheduleKind::Custom;
  if (s.numRanks != request.numRanks)
    return Error{"the file has " + str(s.numRanks) + " line" +
                 (s.numRanks == 1 ? "" : "s") + " (one per rank), but the step has " +
                 str(request.numRanks) + " ranks (--ranks=" + str(request.numRanks) +
                 "); write one line per rank, rank 0 first"};
  if (s.numMicrobatches != request.numMicrobatches)
    return Error{"the file's actions name micro-batches 0.." + str(s.numMicrobatches - 1) +
                 " (" + str(s.numMicrobatches) + "), but the step has " +
                 str(request.numMicrobatches) + " (--microbatches=" +
                 str(request.numMicrobatches) +
                 "); every micro-batch 0..M-1 needs its forward and backward actions"};
  Expected<PlacementKind> placement = placementOfSchedule(s);
  if (!placement)
    return placement.error();
  if (request.placement && *placement != *request.placement)
    return Error{std::string("the file was read under placement '") +
                 placementName(*request.placement) + "' but its stages follow '" +
                 placementName(*placement) + "'"};
  ValidationReport report = validate(s);
  if (!report.ok())
    return Error{"the schedule is not valid under the posted comm model the compiled "
                 "step runs under:\n" + report.str(s, 5)};
  if (placementOut)
    *placementOut = *placement;
  return std::move(s);
}

} // namespace dualpipe::sched
