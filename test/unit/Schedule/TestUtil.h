//===- TestUtil.h - Helpers shared by the schedule unit tests ---*- C++ -*-===//

#ifndef DUALPIPE_TEST_UNIT_SCHEDULE_TESTUTIL_H
#define DUALPIPE_TEST_UNIT_SCHEDULE_TESTUTIL_H

#include "dualpipe/Schedule/Generators.h"
#include "dualpipe/Schedule/Schedule.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace dualpipe::sched::test {

/// One rank's actions in text form, comma-separated (a CSV line).
inline std::string rankLine(const Schedule &s, int r) {
  std::string out;
  for (size_t i = 0; i < s.ranks[r].size(); ++i)
    out += (i ? "," : "") + formatAction(s.ranks[r][i]);
  return out;
}

inline Schedule mustGenerate(ScheduleKind kind, int n, int m, int chunks = 2) {
  Expected<Schedule> s = generate({kind, n, m, chunks});
  EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().message);
  return s.ok() ? *s : Schedule{};
}

} // namespace dualpipe::sched::test

#endif
