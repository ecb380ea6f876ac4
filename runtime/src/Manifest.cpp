//===- Manifest.cpp - Read, check and write manifest.json -----------------===//
//
// Reading is in two passes: the JSON is turned into a Manifest with every
// value's JSON type checked (readX), then the Manifest is checked as a whole
// (Validator: ranges, names, counts, cross-references), in field order, so
// a check only uses fields checked before it. The compiler runs the second
// pass alone (validateManifest) before it writes.
//
// Problems are thrown as Problem inside this file and become the error
// string at the two entry points; nothing leaves through the header.
//
//===----------------------------------------------------------------------===//

#include "dualpipe/Runtime/Manifest.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>
#include <stdexcept>

#ifndef __cpp_exceptions
#error "Manifest.cpp turns nlohmann::json exceptions into messages: build with -fexceptions"
#endif

namespace dualpipe::manifest {
namespace {

using nlohmann::json;

/// A problem found while reading or checking; its text is "field 'x': ...".
struct Problem : std::runtime_error {
  using std::runtime_error::runtime_error;
};

[[noreturn]] void fail(const std::string &where, const std::string &what) {
  throw Problem(where + ": " + what);
}

constexpr const char *kRecompile =
    "; recompile the step with dualpipe-compile (it writes manifest.json; an "
    "edited or damaged one is refused)";
/// Nesting of the JSON (a manifest nests 5 deep).
constexpr int kMaxDepth = 32;

std::string quoted(const std::string &text) {
  // Names come from files a user may have damaged: keep messages one line
  // and bounded.
  std::string out = "'";
  for (size_t i = 0; i < text.size() && i < 200; ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    out += (c < 0x20 || c == 0x7f) ? '?' : static_cast<char>(c);
  }
  return out + (text.size() > 200 ? "...'" : "'");
}

std::string formatList(const std::vector<int64_t> &values) {
  std::string text = "[";
  for (size_t i = 0; i < values.size() && i < 16; ++i)
    text += (i ? ", " : "") + std::to_string(values[i]);
  return text + (values.size() > 16 ? ", ...]" : "]");
}

//--- JSON to Manifest: types only --------------------------------------------//

/// Checks an object's keys: every required one is there, none is unknown.
void checkKeys(const json &object, const std::string &where,
               const std::set<std::string> &required,
               const std::set<std::string> &optional) {
  for (auto it = object.begin(); it != object.end(); ++it)
    if (!required.count(it.key()) && !optional.count(it.key()))
      fail(where, "unknown field " + quoted(it.key()));
  for (const std::string &key : required)
    if (!object.contains(key))
      fail(where, "the field '" + key + "' is missing");
}

/// "arguments[3].shape": where a value is, from the top of the manifest.
std::string join(const std::string &where, const std::string &key) {
  return where.empty() ? key : where + "." + key;
}

std::string field(const std::string &path) { return "field '" + path + "'"; }

std::string readString(const json &object, const std::string &key,
                       const std::string &where) {
  const json &value = object.at(key);
  if (!value.is_string())
    fail(field(join(where, key)), "is not a string");
  return value.get<std::string>();
}

int64_t asInteger(const json &value, const std::string &path) {
  if (value.is_number_unsigned()) {
    if (value.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX))
      fail(field(path), "is too large");
    return static_cast<int64_t>(value.get<uint64_t>());
  }
  if (!value.is_number_integer())
    fail(field(path), "is not an integer");
  return value.get<int64_t>();
}

int64_t readInteger(const json &object, const std::string &key,
                    const std::string &where) {
  return asInteger(object.at(key), join(where, key));
}

std::vector<int64_t> asIntegers(const json &value, const std::string &path) {
  if (!value.is_array())
    fail(field(path), "is not an array of integers");
  if (value.size() > static_cast<size_t>(kMaxArguments))
    fail(field(path), "has " + std::to_string(value.size()) + " entries");
  std::vector<int64_t> out;
  for (size_t i = 0; i < value.size(); ++i)
    out.push_back(asInteger(value[i], path + "[" + std::to_string(i) + "]"));
  return out;
}

std::vector<int64_t> readIntegers(const json &object, const std::string &key,
                                  const std::string &where) {
  return asIntegers(object.at(key), join(where, key));
}

std::vector<std::string> readStrings(const json &object, const std::string &key,
                                     const std::string &where) {
  const json &value = object.at(key);
  std::string at = join(where, key);
  if (!value.is_array())
    fail(field(at), "is not an array of strings");
  if (value.size() > static_cast<size_t>(kMaxRanks))
    fail(field(at), "has " + std::to_string(value.size()) + " entries");
  std::vector<std::string> out;
  for (size_t i = 0; i < value.size(); ++i) {
    if (!value[i].is_string())
      fail(field(at + "[" + std::to_string(i) + "]"), "is not a string");
    out.push_back(value[i].get<std::string>());
  }
  return out;
}

/// "arguments[3]" or "optimizer.arguments[0]".
Argument readArgument(const json &value, const std::string &where,
                      bool isOutput) {
  if (!value.is_object())
    fail(field(where), "is not a JSON object");
  Argument a;
  if (isOutput) {
    checkKeys(value, field(where), {"dtype", "shape"}, {});
  } else {
    checkKeys(value, field(where), {"dtype", "name", "role", "shape"},
              {"ranks", "int_range", "param"});
    a.name = readString(value, "name", where);
    a.role = readString(value, "role", where);
  }
  a.dtype = readString(value, "dtype", where);
  const json &shape = value.at("shape");
  if (!shape.is_array() || shape.size() > static_cast<size_t>(kMaxTensorRank))
    fail(field(join(where, "shape")), "is not an array of at most " +
                                          std::to_string(kMaxTensorRank) +
                                          " dimensions");
  a.shape = asIntegers(shape, join(where, "shape"));
  if (value.contains("ranks"))
    a.ranks = readIntegers(value, "ranks", where);
  if (value.contains("int_range")) {
    std::vector<int64_t> range = readIntegers(value, "int_range", where);
    if (range.size() != 2)
      fail(field(join(where, "int_range")), "must be [LO, HI], got " +
                                                formatList(range));
    a.intRange = std::make_pair(range[0], range[1]);
  }
  if (value.contains("param"))
    a.param = readString(value, "param", where);
  return a;
}

std::vector<Argument> readArguments(const json &object, const std::string &key,
                                    const std::string &where, bool isOutput) {
  const json &value = object.at(key);
  std::string at = join(where, key);
  if (!value.is_array())
    fail(field(at), "is not an array");
  if (value.size() > static_cast<size_t>(kMaxArguments))
    fail(field(at), "has " + std::to_string(value.size()) +
                        " entries, over the limit of " +
                        std::to_string(kMaxArguments));
  std::vector<Argument> out;
  for (size_t i = 0; i < value.size(); ++i) {
    out.push_back(
        readArgument(value[i], at + "[" + std::to_string(i) + "]", isOutput));
    if (isOutput) {
      out.back().role = "output";
      out.back().name = "output" + std::to_string(i);
    }
  }
  return out;
}

Optimizer readOptimizer(const json &value) {
  const std::string where = "optimizer";
  if (!value.is_object())
    fail(field(where), "is not a JSON object");
  checkKeys(value, field(where),
            {"kind", "entry_point", "hyperparameters", "arguments"}, {});
  Optimizer o;
  o.kind = readString(value, "kind", where);
  o.entryPoint = readString(value, "entry_point", where);
  const json &hyper = value.at("hyperparameters");
  if (!hyper.is_object())
    fail(field("optimizer.hyperparameters"), "is not a JSON object of numbers");
  for (auto it = hyper.begin(); it != hyper.end(); ++it) {
    if (!it->is_number())
      fail(field("optimizer.hyperparameters") + " entry " + quoted(it.key()),
           "is not a number");
    o.hyperparameters[it.key()] = it->get<double>();
  }
  o.arguments = readArguments(value, "arguments", where, false);
  return o;
}

std::map<std::string, std::vector<int64_t>> readParamRanks(const json &value) {
  if (!value.is_object())
    fail("field 'param_ranks'", "is not a JSON object of rank lists");
  std::map<std::string, std::vector<int64_t>> out;
  for (auto it = value.begin(); it != value.end(); ++it)
    out[it.key()] = asIntegers(*it, "param_ranks." + it.key());
  return out;
}

Manifest readManifest(const json &root) {
  Manifest m;
  const bool training = root.contains("mode");
  if (training && root["mode"] != "train")
    fail(field("mode"), root["mode"].dump().substr(0, 40) +
                            " is not 'train' (a forward step has no mode)");
  std::set<std::string> required = {
      "format",       "version",      "target",         "schedule",
      "placement",    "ranks",        "stages",         "stage_ranks",
      "microbatches", "library",      "library_bytes",  "library_sha256",
      "entry_points", "arguments",    "abi"};
  std::set<std::string> optional = {"schedule_file", "memory_file",
                                    "peak_memory_bytes"};
  if (training) {
    required.insert({"mode", "param_ranks"});
    optional.insert({"reference_entry_point", "optimizer"});
  } else {
    required.insert({"model", "reference_entry_point", "outputs"});
  }
  checkKeys(root, "the manifest", required, optional);
  m.format = readString(root, "format", "");
  m.version = readInteger(root, "version", "");
  if (training)
    m.mode = readString(root, "mode", "");
  else
    m.model = readString(root, "model", "");
  m.target = readString(root, "target", "");
  m.schedule = readString(root, "schedule", "");
  m.placement = readString(root, "placement", "");
  m.ranks = readInteger(root, "ranks", "");
  m.stages = readInteger(root, "stages", "");
  m.stageRanks = readIntegers(root, "stage_ranks", "");
  m.microbatches = readInteger(root, "microbatches", "");
  m.library = readString(root, "library", "");
  m.libraryBytes = readInteger(root, "library_bytes", "");
  m.librarySha256 = readString(root, "library_sha256", "");
  m.entryPoints = readStrings(root, "entry_points", "");
  if (root.contains("reference_entry_point"))
    m.referenceEntryPoint = readString(root, "reference_entry_point", "");
  m.arguments = readArguments(root, "arguments", "", false);
  if (!training)
    m.outputs = readArguments(root, "outputs", "", true);
  if (training)
    m.paramRanks = readParamRanks(root.at("param_ranks"));
  if (root.contains("optimizer"))
    m.optimizer = readOptimizer(root.at("optimizer"));
  if (root.contains("schedule_file"))
    m.scheduleFile = readString(root, "schedule_file", "");
  if (root.contains("memory_file"))
    m.memoryFile = readString(root, "memory_file", "");
  if (root.contains("peak_memory_bytes"))
    m.peakMemoryBytes = readIntegers(root, "peak_memory_bytes", "");
  m.abi = readString(root, "abi", "");
  return m;
}

//--- The Manifest as a whole ---------------------------------------------------//

bool isIdentifier(const std::string &s) {
  if (s.empty() || s.size() > static_cast<size_t>(kMaxNameBytes) ||
      std::isdigit(static_cast<unsigned char>(s[0])))
    return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
}

/// A word of lowercase letters, digits, '_' and '-' (kinds, schedules).
bool isWord(const std::string &s) {
  if (s.empty() || s.size() > 64)
    return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
  });
}

/// A plain file name in the step's folder: no folder part, not hidden.
bool isFileName(const std::string &s) {
  if (s.empty() || s.size() > 255 || s[0] == '.')
    return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' ||
           c == '-' || c == '.' || c == '+';
  });
}

/// Valid UTF-8 (no overlong forms, surrogates or code points past U+10FFFF).
bool isUtf8(const std::string &s) {
  for (size_t i = 0; i < s.size();) {
    auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
    unsigned char c = byte(i);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3
                                            : (c >> 3) == 0x1e    ? 4
                                                                  : 0;
    if (n == 0 || i + n > s.size())
      return false;
    uint32_t cp = n == 1 ? c : c & (0x7f >> n);
    for (size_t k = 1; k < n; ++k) {
      if ((byte(i + k) & 0xc0) != 0x80)
        return false;
      cp = (cp << 6) | (byte(i + k) & 0x3f);
    }
    static const uint32_t least[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < least[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
      return false;
    i += n;
  }
  return true;
}

/// A tensor or function name: 1 to 1024 bytes of UTF-8, no control
/// characters (names end up in messages, checkpoints and the abi text).
bool isName(const std::string &s) {
  return !s.empty() && s.size() <= static_cast<size_t>(kMaxNameBytes) &&
         isUtf8(s) && std::none_of(s.begin(), s.end(), [](char c) {
           return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
         });
}

class Validator {
public:
  explicit Validator(const Manifest &m) : m_(m) {}

  void run(bool requireAbi) {
    header();
    pipeline();
    library();
    entryPoints();
    arguments();
    if (m_.training())
      trainingArguments();
    else
      forwardArguments();
    if (m_.optimizer)
      optimizer(*m_.optimizer);
    files();
    if (requireAbi || !m_.abi.empty())
      abi();
  }

private:
  const Manifest &m_;
  std::map<std::string, const Argument *> params_; ///< By name.

  void range(const std::string &key, int64_t value, int64_t lo, int64_t hi,
             const std::string &why) {
    if (value < lo || value > hi)
      fail("field '" + key + "'",
           std::to_string(value) + " is outside " + std::to_string(lo) +
               " to " + std::to_string(hi) + why);
  }

  void header() {
    if (m_.format != kFormat)
      fail("field 'format'", quoted(m_.format) + " is not '" + kFormat + "'");
    if (m_.version != kVersion)
      fail("field 'version'", std::to_string(m_.version) + " is not " +
                                  std::to_string(kVersion));
    if (!m_.mode.empty() && m_.mode != "train")
      fail("field 'mode'", quoted(m_.mode) + " is not 'train' (a forward "
                                             "step has no mode)");
    if (m_.training() && !m_.model.empty())
      fail("field 'model'", "is for forward steps only");
    if (!m_.training() && !isName(m_.model))
      fail("field 'model'", quoted(m_.model) + " is not a function name");
    if (m_.target != "cpu" && m_.target != "cuda")
      fail("field 'target'", quoted(m_.target) + " is not one of cpu, cuda");
    if (!isWord(m_.schedule))
      fail("field 'schedule'", quoted(m_.schedule) +
                                   " is not a schedule name (lowercase "
                                   "letters, digits, '_', '-')");
  }

  void pipeline() {
    static const std::set<std::string> placements = {"linear", "interleaved",
                                                     "dualpipe", "dualpipev"};
    if (!placements.count(m_.placement))
      fail("field 'placement'", quoted(m_.placement) +
                                    " is not one of linear, interleaved, "
                                    "dualpipe, dualpipev");
    range("ranks", m_.ranks, 1, kMaxRanks,
          " (a local world has at most 4096 rank threads)");
    range("stages", m_.stages, 1, kMaxStages, "");
    range("microbatches", m_.microbatches, 1, kMaxMicrobatches, "");
    // DualPipe runs every stage twice, mirrored (rank r and N-1-r).
    int64_t copies = m_.placement == "dualpipe" ? 2 : 1;
    if (static_cast<int64_t>(m_.stageRanks.size()) != m_.stages * copies)
      fail("field 'stage_ranks'",
           "has " + std::to_string(m_.stageRanks.size()) + " entries for " +
               std::to_string(m_.stages) + " stages (placement " +
               m_.placement + " needs " + std::to_string(m_.stages * copies) +
               ")");
    for (size_t i = 0; i < m_.stageRanks.size(); ++i)
      if (m_.stageRanks[i] < 0 || m_.stageRanks[i] >= m_.ranks)
        fail("field 'stage_ranks'",
             "stage " + std::to_string(i) + " is on rank " +
                 std::to_string(m_.stageRanks[i]) + ", outside 0 to " +
                 std::to_string(m_.ranks - 1));
  }

  void library() {
    if (!isFileName(m_.library))
      fail("field 'library'", quoted(m_.library) +
                                  " is not a file name in the step's folder "
                                  "(no '/', not hidden)");
    range("library_bytes", m_.libraryBytes, 1, kMaxLibraryBytes, "");
    bool hex = m_.librarySha256.size() == 64 &&
               std::all_of(m_.librarySha256.begin(), m_.librarySha256.end(),
                           [](char c) {
                             return (c >= '0' && c <= '9') ||
                                    (c >= 'a' && c <= 'f');
                           });
    if (!hex)
      fail("field 'library_sha256'",
           "is not a SHA-256 (64 lowercase hexadecimal digits)");
  }

  void entryPoints() {
    if (static_cast<int64_t>(m_.entryPoints.size()) != m_.ranks)
      fail("field 'entry_points'",
           "lists " + std::to_string(m_.entryPoints.size()) +
               " entry points for " + std::to_string(m_.ranks) +
               " ranks (one per rank, rank 0 first)");
    std::set<std::string> seen;
    auto add = [&](const std::string &name, const std::string &key) {
      if (!isIdentifier(name))
        fail("field '" + key + "'", quoted(name) + " is not a C identifier");
      if (!seen.insert(name).second)
        fail("field '" + key + "'", quoted(name) + " is named twice");
    };
    for (const std::string &name : m_.entryPoints)
      add(name, "entry_points");
    if (!m_.referenceEntryPoint.empty())
      add(m_.referenceEntryPoint, "reference_entry_point");
    else if (!m_.training())
      fail("field 'reference_entry_point'", "is empty");
    if (m_.optimizer)
      add(m_.optimizer->entryPoint, "optimizer.entry_point");
    if (seen.count(kAbiSymbol))
      fail("field 'entry_points'", std::string("names ") + kAbiSymbol);
  }

  /// What every argument list needs: known roles and dtypes, bounded
  /// shapes, valid names, each (role, name) once.
  void argument(const Argument &a, const std::string &where,
                const std::set<std::string> &roles) {
    std::string what = where + " (" + a.role + " " + quoted(a.name) + ")";
    if (!roles.count(a.role)) {
      std::string list;
      for (const std::string &r : roles)
        list += (list.empty() ? "" : ", ") + r;
      fail(where, "role " + quoted(a.role) + " is not one of " + list);
    }
    if (!isName(a.name))
      fail(where, "the name " + quoted(a.name) +
                      " is empty, over 1024 bytes, not UTF-8 or holds "
                      "control characters");
    if (a.name == "__metadata__")
      fail(what, "the name is reserved by safetensors");
    if (dtypeBytes(a.dtype) == 0)
      fail(what, "dtype " + quoted(a.dtype) +
                     " is not one of i1, i8, i16, i32, i64, f16, bf16, f32, "
                     "f64");
    int64_t elements = 1;
    for (int64_t d : a.shape) {
      if (d < 1 || d > kMaxElements)
        fail(what, "shape " + formatList(a.shape) +
                       " has a dimension outside 1 to 2^40");
      if (__builtin_mul_overflow(elements, d, &elements) ||
          elements > kMaxElements)
        fail(what, "shape " + formatList(a.shape) +
                       " has more than 2^40 elements");
    }
    if (a.shape.size() > static_cast<size_t>(kMaxTensorRank))
      fail(what, "has more than 16 dimensions");
    if (a.ranks) {
      std::set<int64_t> seen;
      for (int64_t r : *a.ranks)
        if (r < 0 || r >= m_.ranks || !seen.insert(r).second)
          fail(what, "ranks " + formatList(*a.ranks) +
                         " must be distinct ranks of 0 to " +
                         std::to_string(m_.ranks - 1));
    }
    if (a.intRange)
      intRange(a, what);
    if (a.param && a.role != "state")
      fail(what, "only optimizer state has a 'param' field");
  }

  void intRange(const Argument &a, const std::string &what) {
    auto [lo, hi] = *a.intRange;
    if (!isIntegerDtype(a.dtype) || a.dtype == "i1")
      fail(what, "is " + a.dtype +
                     " but has an int_range; only i8, i16, i32 and i64 "
                     "arguments take one");
    if (lo >= hi)
      fail(what, "int_range [" + std::to_string(lo) + ", " +
                     std::to_string(hi) + "] must be [LO, HI] with LO < HI");
    int64_t bits = dtypeBytes(a.dtype) * 8;
    if (bits < 64) {
      int64_t min = -(int64_t(1) << (bits - 1)), max = -(min + 1);
      if (lo < min || hi - 1 > max)
        fail(what, "int_range [" + std::to_string(lo) + ", " +
                       std::to_string(hi) + "] does not fit its " + a.dtype +
                       " values");
    }
  }

  void uniqueNames(const std::vector<Argument> &args, const std::string &key) {
    std::set<std::pair<std::string, std::string>> seen;
    for (size_t i = 0; i < args.size(); ++i)
      if (!seen.insert({args[i].role, args[i].name}).second)
        fail(key + "[" + std::to_string(i) + "]",
             "the " + args[i].role + " " + quoted(args[i].name) +
                 " appears twice");
  }

  void arguments() {
    std::set<std::string> roles =
        m_.training()
            ? std::set<std::string>{"param", "input", "label", "losses", "grad"}
            : std::set<std::string>{"param", "input"};
    for (size_t i = 0; i < m_.arguments.size(); ++i) {
      const Argument &a = m_.arguments[i];
      std::string where = "arguments[" + std::to_string(i) + "]";
      argument(a, where, roles);
      if (a.ranks.has_value() == m_.training())
        fail(where + " (" + a.role + " " + quoted(a.name) + ")",
             m_.training() ? "'ranks' is for forward steps only"
                           : "the field 'ranks' is missing");
    }
    uniqueNames(m_.arguments, "arguments");
    for (const Argument &a : m_.arguments)
      if (a.role == "param")
        params_[a.name] = &a;
  }

  void trainingArguments() {
    int losses = 0;
    std::set<std::string> grads;
    for (const Argument &a : m_.arguments) {
      std::string what = "the " + a.role + " " + quoted(a.name);
      if (a.role == "losses") {
        ++losses;
        if (a.shape != std::vector<int64_t>{m_.microbatches})
          fail(what, "has shape " + formatList(a.shape) +
                         "; the losses are one per micro-batch: [" +
                         std::to_string(m_.microbatches) + "]");
      } else if (a.role == "grad") {
        auto p = params_.find(a.name);
        if (p == params_.end())
          fail(what, "is the gradient of no parameter");
        if (p->second->shape != a.shape || p->second->dtype != a.dtype)
          fail(what, "is " + tensorType(a.dtype, a.shape) +
                         ", but its parameter is " +
                         tensorType(p->second->dtype, p->second->shape));
        grads.insert(a.name);
      }
    }
    if (losses != 1)
      fail("field 'arguments'", "has " + std::to_string(losses) +
                                    " losses arguments; a training step has "
                                    "one");
    for (const auto &[name, param] : params_)
      if (!grads.count(name))
        fail("the param " + quoted(name), "has no gradient argument");
    for (const auto &[name, ranks] : m_.paramRanks) {
      std::string where = "field 'param_ranks' entry " + quoted(name);
      if (!params_.count(name))
        fail(where, "names no parameter of the step");
      std::set<int64_t> seen;
      if (ranks.empty())
        fail(where, "lists no rank");
      for (int64_t r : ranks)
        if (r < 0 || r >= m_.ranks || !seen.insert(r).second)
          fail(where, formatList(ranks) + " must be distinct ranks of 0 to " +
                          std::to_string(m_.ranks - 1));
    }
    for (const auto &[name, param] : params_)
      if (!m_.paramRanks.count(name))
        fail("field 'param_ranks'",
             "says nothing of the parameter " + quoted(name) +
                 " (which rank computes its gradient)");
    if (!m_.outputs.empty())
      fail("field 'outputs'", "is for forward steps only");
  }

  void forwardArguments() {
    if (m_.outputs.empty())
      fail("field 'outputs'", "is empty; a forward step has outputs");
    for (size_t i = 0; i < m_.outputs.size(); ++i)
      argument(m_.outputs[i], "outputs[" + std::to_string(i) + "]",
               {"output"});
    if (!m_.paramRanks.empty())
      fail("field 'param_ranks'", "is for training steps only");
    if (m_.optimizer)
      fail("field 'optimizer'", "is for training steps only");
  }

  void optimizer(const Optimizer &o) {
    const std::string where = "optimizer";
    if (!isWord(o.kind))
      fail(field("optimizer.kind"), quoted(o.kind) + " is not an optimizer name");
    for (const auto &[key, value] : o.hyperparameters)
      if (!isIdentifier(key) || !std::isfinite(value))
        fail(field("optimizer.hyperparameters") + " entry " + quoted(key),
             "must be a name with a finite number");
    uniqueNames(o.arguments, "optimizer.arguments");
    std::map<std::string, int> seenParam, seenGrad;
    std::set<std::string> states;
    int scalars = 0;
    for (size_t i = 0; i < o.arguments.size(); ++i) {
      const Argument &a = o.arguments[i];
      std::string at = "optimizer.arguments[" + std::to_string(i) + "]";
      argument(a, at, {"param", "grad", "state", "scalars"});
      std::string what = at + " (" + a.role + " " + quoted(a.name) + ")";
      if (a.ranks)
        fail(what, "'ranks' is for forward steps only");
      if (a.role == "param" || a.role == "grad") {
        auto p = params_.find(a.name);
        if (p == params_.end())
          fail(what, "is not a parameter of the step");
        if (p->second->shape != a.shape || p->second->dtype != a.dtype)
          fail(what, "is " + tensorType(a.dtype, a.shape) +
                         ", but the step's parameter is " +
                         tensorType(p->second->dtype, p->second->shape));
        ++(a.role == "param" ? seenParam : seenGrad)[a.name];
      } else if (a.role == "state") {
        if (params_.count(a.name))
          fail(what, "has a parameter's name (checkpoints hold both)");
        if (!states.insert(a.name).second)
          fail(what, "is listed twice");
        if (a.param && !params_.count(*a.param))
          fail(what, "belongs to " + quoted(*a.param) +
                         ", which is not a parameter of the step");
      } else {
        ++scalars;
        if (a.shape != std::vector<int64_t>{2} || a.dtype != "f32")
          fail(what, "must be f32[2] ([lr, t]), got " +
                         tensorType(a.dtype, a.shape));
      }
    }
    for (const auto &[name, param] : params_)
      if (seenParam[name] != 1 || seenGrad[name] != 1)
        fail(field(where),
             "must take the parameter " + quoted(name) +
                 " and its gradient once each (it takes them " +
                 std::to_string(seenParam[name]) + " and " +
                 std::to_string(seenGrad[name]) + " times)");
    if (scalars != 1)
      fail(field(where), "must take one scalars argument ([lr, t]), it "
                         "takes " + std::to_string(scalars));
  }

  void files() {
    for (auto [key, name] : {std::pair<const char *, const std::string *>{
                                 "schedule_file", &m_.scheduleFile},
                             {"memory_file", &m_.memoryFile}})
      if (!name->empty() && !isFileName(*name))
        fail(std::string("field '") + key + "'",
             quoted(*name) + " is not a file name in the step's folder");
    if (!m_.peakMemoryBytes.empty() &&
        static_cast<int64_t>(m_.peakMemoryBytes.size()) != m_.ranks)
      fail("field 'peak_memory_bytes'",
           "has " + std::to_string(m_.peakMemoryBytes.size()) +
               " entries for " + std::to_string(m_.ranks) + " ranks");
    for (int64_t bytes : m_.peakMemoryBytes)
      if (bytes < 0)
        fail("field 'peak_memory_bytes'", "holds a negative size");
  }

  void abi() {
    if (m_.abi != m_.abiSignature())
      fail("field 'abi'",
           "does not describe the manifest's own entry points and arguments "
           "(the manifest was edited after dualpipe-compile wrote it)");
  }
};

//--- Manifest to JSON ----------------------------------------------------------//

json argumentJson(const Argument &a, bool isOutput) {
  json out = {{"dtype", a.dtype}, {"shape", a.shape}};
  if (isOutput)
    return out;
  out["name"] = a.name;
  out["role"] = a.role;
  if (a.ranks)
    out["ranks"] = *a.ranks;
  if (a.intRange)
    out["int_range"] = {a.intRange->first, a.intRange->second};
  if (a.param)
    out["param"] = *a.param;
  return out;
}

json argumentsJson(const std::vector<Argument> &args, bool isOutput) {
  json out = json::array();
  for (const Argument &a : args)
    out.push_back(argumentJson(a, isOutput));
  return out;
}

json toJson(const Manifest &m) {
  json out = {{"format", m.format},
              {"version", m.version},
              {"target", m.target},
              {"schedule", m.schedule},
              {"placement", m.placement},
              {"ranks", m.ranks},
              {"stages", m.stages},
              {"stage_ranks", m.stageRanks},
              {"microbatches", m.microbatches},
              {"library", m.library},
              {"library_bytes", m.libraryBytes},
              {"library_sha256", m.librarySha256},
              {"entry_points", m.entryPoints},
              {"arguments", argumentsJson(m.arguments, false)},
              {"abi", m.abi}};
  if (!m.mode.empty())
    out["mode"] = m.mode;
  if (m.training()) {
    json owners = json::object();
    for (const auto &[name, ranks] : m.paramRanks)
      owners[name] = ranks;
    out["param_ranks"] = owners;
  } else {
    out["model"] = m.model;
    out["outputs"] = argumentsJson(m.outputs, true);
  }
  if (!m.referenceEntryPoint.empty())
    out["reference_entry_point"] = m.referenceEntryPoint;
  if (m.optimizer) {
    json hyper = json::object();
    for (const auto &[key, value] : m.optimizer->hyperparameters)
      hyper[key] = value;
    out["optimizer"] = {{"kind", m.optimizer->kind},
                        {"entry_point", m.optimizer->entryPoint},
                        {"hyperparameters", hyper},
                        {"arguments", argumentsJson(m.optimizer->arguments,
                                                    false)}};
  }
  if (!m.scheduleFile.empty())
    out["schedule_file"] = m.scheduleFile;
  if (!m.memoryFile.empty())
    out["memory_file"] = m.memoryFile;
  if (!m.peakMemoryBytes.empty())
    out["peak_memory_bytes"] = m.peakMemoryBytes;
  return out;
}

/// Parses JSON, refusing a key twice in one object (the last would win
/// silently) and nesting deeper than kMaxDepth.
json parseJson(const std::string &text) {
  std::vector<std::set<std::string>> keys;
  auto callback = [&](int depth, json::parse_event_t event, json &parsed) {
    if (depth > kMaxDepth)
      throw Problem("is nested deeper than " + std::to_string(kMaxDepth) +
                    " levels");
    if (event == json::parse_event_t::object_start)
      keys.emplace_back();
    else if (event == json::parse_event_t::object_end && !keys.empty())
      keys.pop_back();
    else if (event == json::parse_event_t::key && !keys.empty() &&
             !keys.back().insert(parsed.get<std::string>()).second)
      throw Problem("names the field " + quoted(parsed.get<std::string>()) +
                    " twice in one object");
    return true;
  };
  return json::parse(text, callback);
}

} // namespace

//--- Public ---------------------------------------------------------------------//

int64_t dtypeBytes(const std::string &dtype) {
  static const std::map<std::string, int64_t> sizes = {
      {"i1", 1},  {"i8", 1},   {"i16", 2}, {"i32", 4}, {"i64", 8},
      {"f16", 2}, {"bf16", 2}, {"f32", 4}, {"f64", 8}};
  auto it = sizes.find(dtype);
  return it == sizes.end() ? 0 : it->second;
}

bool isIntegerDtype(const std::string &dtype) {
  return dtype == "i1" || dtype == "i8" || dtype == "i16" || dtype == "i32" ||
         dtype == "i64";
}

int64_t Argument::numElements() const {
  int64_t n = 1;
  for (int64_t d : shape)
    if (d < 0 || __builtin_mul_overflow(n, d, &n))
      return std::numeric_limits<int64_t>::max();
  return n;
}

int64_t Argument::numBytes() const {
  int64_t bytes;
  if (__builtin_mul_overflow(numElements(), dtypeBytes(dtype), &bytes))
    return std::numeric_limits<int64_t>::max();
  return bytes;
}

std::string tensorType(const std::string &dtype,
                       const std::vector<int64_t> &shape) {
  std::string text = dtype + "[";
  for (size_t i = 0; i < shape.size(); ++i)
    text += (i ? "x" : "") + std::to_string(shape[i]);
  return text + "]";
}

std::vector<Argument> Manifest::entryArguments() const {
  std::vector<Argument> args = arguments;
  args.insert(args.end(), outputs.begin(), outputs.end());
  return args;
}

std::string Manifest::abiSignature() const {
  auto signature = [](const std::string &name,
                      const std::vector<Argument> &args) {
    std::string text = name + "(";
    for (size_t i = 0; i < args.size(); ++i)
      text += (i ? ", " : "") + args[i].role + " " + args[i].name + " " +
              tensorType(args[i].dtype, args[i].shape);
    return text + ")";
  };
  std::vector<Argument> args = entryArguments();
  std::string text;
  for (const std::string &name : entryPoints)
    text += (text.empty() ? "" : ";") + signature(name, args);
  if (!referenceEntryPoint.empty())
    text += (text.empty() ? "" : ";") + signature(referenceEntryPoint, args);
  if (optimizer)
    text += (text.empty() ? "" : ";") +
            signature(optimizer->entryPoint, optimizer->arguments);
  return text;
}

std::string writeManifest(const Manifest &manifest) {
  try {
    // validateManifest refuses names that are not UTF-8; should one get
    // here anyway, it is written with U+FFFD and then fails the abi check.
    return toJson(manifest).dump(2, ' ', false,
                                 json::error_handler_t::replace) +
           "\n";
  } catch (const std::exception &) {
    return std::string(); // out of memory
  }
}

std::string validateManifest(const Manifest &manifest) {
  try {
    Validator(manifest).run(/*requireAbi=*/false);
    return "";
  } catch (const Problem &p) {
    return p.what();
  } catch (const std::exception &e) {
    return std::string("cannot check the manifest: ") + e.what();
  }
}

bool parseManifest(const std::string &text, Manifest &out, std::string &error,
                   const std::string &source) {
  const std::string notOne = source + " is not a dualpipe-step manifest (";
  try {
    if (static_cast<int64_t>(text.size()) > kMaxManifestBytes) {
      error = notOne + std::to_string(text.size()) +
              " bytes, over the 256 MiB a manifest can have)";
      return false;
    }
    json root;
    try {
      root = parseJson(text);
    } catch (const json::exception &e) {
      std::string what = e.what();
      size_t bracket = what.find("] ");
      error = notOne + "not valid JSON: " +
              (bracket == std::string::npos ? what : what.substr(bracket + 2)) +
              ")";
      return false;
    } catch (const Problem &p) {
      error = source + ": it " + p.what() + kRecompile;
      return false;
    }
    if (!root.is_object() || !root.contains("format") ||
        root["format"] != kFormat) {
      error = notOne + "no \"format\": \"dualpipe-step\")";
      return false;
    }
    const json &version = root.contains("version") ? root["version"] : json();
    if (!version.is_number_integer()) {
      error = source + ": field 'version' is missing or not an integer" +
              kRecompile;
      return false;
    }
    if (version.get<int64_t>() != kVersion) {
      int64_t v = version.get<int64_t>();
      error = source + " has manifest version " + std::to_string(v) +
              (v < kVersion ? ", written by an older dualpipe-compile "
                              "(this dualpipe-run reads version 2, which "
                              "records the library's SHA-256 and ABI); "
                              "recompile with this dualpipe-compile"
                            : "; this dualpipe-run reads version 2: run it "
                              "with the dualpipe-run of the dualpipe-compile "
                              "that wrote it, or recompile with this "
                              "dualpipe-compile");
      return false;
    }
    out = readManifest(root);
    Validator(out).run(/*requireAbi=*/true);
    return true;
  } catch (const Problem &p) {
    error = source + ": " + p.what() + kRecompile;
  } catch (const std::exception &e) {
    error = source + ": cannot read it: " + e.what();
  }
  return false;
}

} // namespace dualpipe::manifest
