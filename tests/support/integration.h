// Helpers the integration tests (tests/integration/*_test.cc) share: running
// the built vmrun and other programs with a time limit, describing a run
// for a failed check, and host-side files. Each test file keeps its own
// special helpers. Needs VMRUN_BINARY (the integration target defines it).
// Header-only.
#pragma once

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <csignal>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <ios>
#include <string>
#include <vector>

#include "tests/support/subprocess.h"

namespace vmrun::test_support {

// Even in the lab a boot takes well under a minute; a run that takes this
// long has hung, which is itself a failure ("vmrun never hangs"). Below the
// lab's own idle limit (tests/integration/run), so a hung vmrun fails its
// test, with its state dump, instead of stopping the whole lab.
inline constexpr double kHangLimit = 240;

// The exit status and all a run printed, for a failed check's message.
inline std::string describe(const RunResult& r) {
  return "exit " + std::to_string(r.exit_code) + "\n--- stdout:\n" + r.out +
         "--- stderr:\n" + r.err;
}

// `argv` run to its end without input; not ending within `limit` seconds
// fails the test.
inline RunResult run(std::vector<std::string> argv, double limit = kHangLimit,
                     int dump_signal = 0) {
  RunResult r = run_program(argv, "", limit, dump_signal);
  EXPECT_FALSE(r.timed_out) << argv[0] << " hung";
  return r;
}

// The built vmrun with `args`, as run() runs it.
inline RunResult vmrun(std::vector<std::string> args,
                       double limit = kHangLimit) {
  args.insert(args.begin(), VMRUN_BINARY);
  return run(args, limit, SIGUSR2);  // a hung vmrun dumps its devices' state
}

inline bool contains(const std::string& text, const std::string& what) {
  return text.find(what) != std::string::npos;
}

// `text` as the whole of the file at `path`.
inline void write_file(const std::filesystem::path& path,
                       const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}
// The same, and then the file's mode set to `mode`.
inline void write_file(const std::filesystem::path& path,
                       const std::string& text, mode_t mode) {
  write_file(path, text);
  chmod(path.c_str(), mode);
}

// Up to `len` bytes of the file at `path` from `offset`; by default all of
// it. "" when there is no such file.
inline std::string read_file(const std::filesystem::path& path,
                             uint64_t offset = 0, size_t len = SIZE_MAX) {
  std::ifstream in(path, std::ios::binary);
  in.seekg(static_cast<std::streamoff>(offset));
  std::string s;
  char buf[4096];
  while (s.size() < len && in.read(buf, sizeof buf).gcount() > 0) {
    s.append(buf, static_cast<size_t>(in.gcount()));
  }
  return s.substr(0, std::min(len, s.size()));
}

// The file's SHA-256 in hex, by sha256sum (run as run() runs it).
inline std::string sha256(const std::filesystem::path& path,
                          double limit = kHangLimit) {
  return run({"/usr/bin/sha256sum", path.string()}, limit).out.substr(0, 64);
}

#ifdef VMRUN_SOURCE_DIR
// The edu driver's sources (guest/modules/edu) in a new directory `dir`, as
// a user's out-of-tree module to build with images/kmake.
inline void copy_edu_sources(const std::filesystem::path& dir) {
  std::filesystem::create_directories(dir);
  for (const char* f : {"Kbuild", "edu.c", "edu_ioctl.h"}) {
    std::filesystem::copy_file(std::filesystem::path(VMRUN_SOURCE_DIR) / "guest/modules/edu" / f,
                               dir / f);
  }
}
#endif

}  // namespace vmrun::test_support
