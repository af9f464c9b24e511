// Debian's real gdb against the stub (a Server on port 0 serving a
// FakeGdbTarget): connecting, the target description, registers, memory, a
// breakpoint, continue, stepi, threads, detach, each checked on what gdb
// prints. Skipped (saying so) on a host without /usr/bin/gdb.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <regex>
#include <string>
#include <vector>

#include "tests/support/fake_gdb_target.h"
#include "vmm/gdb/server.h"

namespace vmrun::gdb {
namespace {

constexpr const char* kGdb = "/usr/bin/gdb";

struct Output {
  int status = -1;
  bool timed_out = false;
  std::string text;  // stdout and stderr, interleaved
};

// Runs argv to its end (killed after `seconds`); `tick` is called about
// every 50 ms with its pid while it runs.
Output run(const std::vector<std::string>& argv, int seconds,
           const std::function<void(pid_t)>& tick = {}) {
  Output o;
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return o;
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(p[1], 1);
    ::dup2(p[1], 2);
    int null = ::open("/dev/null", O_RDONLY);
    ::dup2(null, 0);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  ::close(p[1]);
  auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      o.timed_out = true;
      ::kill(pid, SIGKILL);
      break;
    }
    if (tick) tick(pid);
    pollfd pfd{p[0], POLLIN, 0};
    if (::poll(&pfd, 1, 50) <= 0) continue;
    char buf[4096];
    ssize_t n = ::read(p[0], buf, sizeof buf);
    if (n <= 0) break;
    o.text.append(buf, static_cast<size_t>(n));
  }
  ::close(p[0]);
  int st = 0;
  ::waitpid(pid, &st, 0);
  o.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return o;
}

std::vector<std::string> gdb_argv(uint16_t port,
                                  const std::vector<std::string>& commands) {
  std::vector<std::string> argv = {
      kGdb,
      "-batch",
      "-nx",
      "-ex",
      "set architecture i386:x86-64",
      "-ex",
      "target remote 127.0.0.1:" + std::to_string(port)};
  for (const std::string& c : commands) {
    argv.push_back("-ex");
    argv.push_back(c);
  }
  return argv;
}

bool has(const std::string& text, const std::string& re) {
  return std::regex_search(text, std::regex(re, std::regex::icase));
}

TEST(GdbRealGdb, ConnectsReadsBreaksStepsListsThreadsAndDetaches) {
  if (::access(kGdb, X_OK) != 0)
    GTEST_SKIP() << kGdb << " is not installed (apt-get install gdb); skipping";
  test_support::FakeGdbTarget target(2);
  auto server = Server::start({"127.0.0.1", 0}, target);
  ASSERT_TRUE(server.ok()) << server.error().message();
  Output o =
      run(gdb_argv(server.value()->port(),
                   {"info registers rip", "x/4xb 0x1000", "break *0x2000",
                    "continue", "stepi", "info threads", "detach"}),
          60);
  server.value()->stop();
  const std::string& t = o.text;
  ASSERT_FALSE(o.timed_out) << t;
  EXPECT_EQ(o.status, 0) << t;
  // The description was accepted (a rejected one makes gdb warn).
  EXPECT_FALSE(
      has(t, "target description|unknown architecture|Remote 'g' packet reply"))
      << t;
  EXPECT_TRUE(has(t, R"(rip\s+0x1000\s+0x1000)")) << t;
  // Memory: the fake's bytes are (address * 7) & 0xff.
  EXPECT_TRUE(has(t, R"(0x1000:\s+0x00\s+0x07\s+0x0e\s+0x15)")) << t;
  EXPECT_TRUE(has(t, R"(Breakpoint 1 at 0x2000)")) << t;
  EXPECT_TRUE(has(t, R"(Breakpoint 1, 0x0+2000 in \?\? \(\))")) << t;
  EXPECT_TRUE(has(t, R"(0x0+2001 in \?\? \(\))")) << t;
  // Both vCPUs, with the stub's extra info, and the current one marked.
  EXPECT_TRUE(has(t, R"(\*\s+1\s+Thread 1 \(vCPU 0\))")) << t;
  EXPECT_TRUE(has(t, R"(\n\s+2\s+Thread 2 \(vCPU 1\))")) << t;
  EXPECT_TRUE(has(t, R"(\[Inferior 1 \(.*\) detached\])")) << t;
  // gdb stepped with the breakpoint lifted, then detached: all removed.
  EXPECT_EQ(target.regs[0].rip, 0x2001u);
  EXPECT_TRUE(target.breakpoints.empty());
  EXPECT_EQ(target.detaches, 1);
  EXPECT_EQ(target.kills, 0);
}

// A guest that runs until gdb's user hits Ctrl-C (SIGINT to gdb, which sends
// the stub 0x03).
class RunsUntilInterrupted : public test_support::FakeGdbTarget {
 public:
  void resume(std::optional<int> step) override {
    FakeGdbTarget::resume(step);
    resumed = true;
  }
  std::atomic<bool> resumed{false};
};

TEST(GdbRealGdb, CtrlCInGdbStopsARunningGuest) {
  if (::access(kGdb, X_OK) != 0)
    GTEST_SKIP() << kGdb << " is not installed (apt-get install gdb); skipping";
  RunsUntilInterrupted target;
  auto server = Server::start({"127.0.0.1", 0}, target);
  ASSERT_TRUE(server.ok()) << server.error().message();
  bool sent = false;
  Output o = run(gdb_argv(server.value()->port(),
                          {"continue", "info registers rip", "detach"}),
                 60, [&](pid_t pid) {
                   if (target.resumed && !sent) sent = ::kill(pid, SIGINT) == 0;
                 });
  server.value()->stop();
  const std::string& t = o.text;
  ASSERT_FALSE(o.timed_out) << t;
  EXPECT_TRUE(sent);
  EXPECT_EQ(o.status, 0) << t;
  EXPECT_TRUE(has(t, R"(received signal SIGINT, Interrupt)")) << t;
  EXPECT_TRUE(has(t, R"(rip\s+0x1000\s+0x1000)")) << t;
  EXPECT_TRUE(has(t, R"(\[Inferior 1 \(.*\) detached\])")) << t;
  EXPECT_EQ(target.interrupts, 2);  // the attach and the Ctrl-C
  EXPECT_EQ(target.detaches, 1);
}

}  // namespace
}  // namespace vmrun::gdb
