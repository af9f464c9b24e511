// Runs a program with arguments, optional stdin bytes and a time limit, and
// captures what a user would see: exit status, stdout, stderr, wall time.
#pragma once

#include <string>
#include <vector>

namespace vmrun::test_support {

struct RunResult {
  int exit_code = -1;      // -1 if killed by a signal or by the time limit
  int signal = 0;          // the signal that ended it, if any
  bool timed_out = false;  // the limit passed and we killed it
  std::string out;
  std::string err;
  double seconds = 0;
};

// At the limit the program is killed; with `dump_signal` it is first sent
// that signal and given 3 s more, so a hung vmrun can print its state.
RunResult run_program(const std::vector<std::string>& argv,
                      const std::string& input = "",
                      double time_limit_seconds = 600, int dump_signal = 0);

// Number of lines in `text` (a last line without '\n' counts).
int count_lines(const std::string& text);

}  // namespace vmrun::test_support
