// --result-json: what a CI system wants to know about a run, as one JSON
// object written when vmrun exits (also after a set-up error).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "vmm/config.h"
#include "vmm/result.h"

namespace vmrun {

struct RunReport {
  int exit_status = 0;
  std::string reason;  // reason_name(), or "error" for a set-up error
  std::string detail;  // the stderr line, if any
  std::optional<int> job_status;  // the job's own status or signal, if it ended
  double wall_seconds = 0;
  std::optional<double> boot_seconds;  // until guest init was up
  std::vector<std::string> taps;
};

// Writes the report to `path` atomically (a temp file renamed over it).
Result<void> write_run_report(const std::string& path, const RunReport& report,
                              const VmConfig& config);

// A JSON string literal for `s` (control characters and non-UTF-8 bytes
// escaped), for the report.
std::string json_string(const std::string& s);

}  // namespace vmrun
