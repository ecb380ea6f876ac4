//===- MutationDriver.cpp - A seeded mutation loop where libFuzzer is not -===//
//
// Used only when no clang with -fsanitize=fuzzer is found: runs
// LLVMFuzzerTestOneInput on the seeds, then on random mutations of them
// (bit flips, byte changes, insertions, deletions, duplicated ranges,
// splices of two inputs, interesting numbers and JSON tokens) for a given
// time, deterministically from a seed.
//
//   dualpipe-fuzz-readers [-max_total_time=S] [-seed=N] CORPUS_DIR...
//
//===----------------------------------------------------------------------===//

#include <dirent.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

namespace {

std::vector<std::string> readCorpus(const std::string &dir) {
  std::vector<std::string> inputs;
  if (DIR *d = opendir(dir.c_str())) {
    while (dirent *e = readdir(d)) {
      if (e->d_name[0] == '.')
        continue;
      std::ifstream in(dir + "/" + e->d_name, std::ios::binary);
      std::stringstream s;
      s << in.rdbuf();
      inputs.push_back(s.str());
    }
    closedir(d);
  }
  return inputs;
}

std::string mutate(std::string s, const std::vector<std::string> &corpus,
                   std::mt19937_64 &rng) {
  static const char *tokens[] = {
      "0", "-1", "1e309", "18446744073709551616", "9223372036854775807",
      "null", "true", "[]", "{}", "\"\"", "\"f32\"", "\"ranks\"", ",", ":",
      "[", "]", "{", "}", "\"", "\\u0000", "\xff", "4294967296"};
  int edits = 1 + rng() % 4;
  for (int k = 0; k < edits; ++k) {
    size_t at = s.empty() ? 0 : rng() % s.size();
    switch (rng() % 7) {
    case 0:
      if (!s.empty())
        s[at] = static_cast<char>(s[at] ^ (1 << (rng() % 8)));
      break;
    case 1:
      if (!s.empty())
        s[at] = static_cast<char>(rng());
      break;
    case 2:
      s.insert(at, 1, static_cast<char>(rng()));
      break;
    case 3:
      if (!s.empty())
        s.erase(at, 1 + rng() % std::min<size_t>(16, s.size() - at));
      break;
    case 4:
      if (!s.empty())
        s.insert(at, s.substr(rng() % s.size(), 1 + rng() % 32));
      break;
    case 5: {
      const std::string &other = corpus[rng() % corpus.size()];
      if (!other.empty())
        s = s.substr(0, at) + other.substr(rng() % other.size());
      break;
    }
    default:
      s.insert(at, tokens[rng() % (sizeof tokens / sizeof *tokens)]);
    }
  }
  return s;
}

} // namespace

int main(int argc, char **argv) {
  double seconds = 20;
  uint64_t seed = 1;
  std::vector<std::string> corpus;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("-max_total_time=", 0) == 0)
      seconds = std::atof(a.c_str() + 16);
    else if (a.rfind("-seed=", 0) == 0)
      seed = std::strtoull(a.c_str() + 6, nullptr, 10);
    else if (a[0] != '-')
      for (std::string &s : readCorpus(a))
        corpus.push_back(std::move(s));
  }
  if (corpus.empty())
    corpus.push_back("");
  std::mt19937_64 rng(seed);
  uint64_t runs = 0;
  for (const std::string &s : corpus) {
    ++runs;
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t *>(s.data()),
                           s.size());
  }
  auto end = std::chrono::steady_clock::now() +
             std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < end)
    for (int i = 0; i < 256; ++i, ++runs) {
      std::string s = mutate(corpus[rng() % corpus.size()], corpus, rng);
      LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t *>(s.data()),
                             s.size());
    }
  std::printf("Done %llu runs in %.0f second(s) (seeded mutation loop, seed "
              "%llu, %zu seeds)\n",
              (unsigned long long)runs, seconds, (unsigned long long)seed,
              corpus.size());
  return 0;
}
