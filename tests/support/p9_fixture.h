// GoogleTest helpers for the p9::Server unit tests (p9_server_*_test.cc):
// a fixture with a fresh, attached share, and host-side checks. Kept apart
// from p9_client.h, which the fuzzer uses without GoogleTest. Header-only.
#pragma once

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <string>

#include "tests/support/p9_client.h"

namespace vmrun::test_support {

// The process's umask, left as it was.
inline mode_t current_umask() {
  const mode_t m = ::umask(0);
  ::umask(m);
  return m;
}

// lstat() of a host path; failing to stat it fails the test.
inline struct stat host_stat(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
  return st;
}

inline bool host_exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

// A share served read-write and attached as P9Share::kRoot, and its client.
class P9ShareTest : public ::testing::Test {
 protected:
  P9Share s;
  P9Client& c = s.c;
};

}  // namespace vmrun::test_support
