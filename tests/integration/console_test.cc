// The interactive console as a user at a terminal has it: vmrun -it on a
// pseudo-terminal, keys typed into the guest's shell, answers read back,
// Ctrl-C to the guest's foreground job, Ctrl-A x to quit, and the terminal's
// modes as they were before.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

namespace {

constexpr double kLimit = 100;

class ConsoleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(openpty(&master_, &slave_, nullptr, nullptr, nullptr), 0);
    ASSERT_EQ(tcgetattr(slave_, &before_), 0);
  }
  void TearDown() override {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    close(master_);
    close(slave_);
  }

  // vmrun with `args`, its stdin, stdout and stderr on the terminal, which
  // is its controlling terminal (as in a login shell).
  void start(std::vector<std::string> args) {
    args.insert(args.begin(), VMRUN_BINARY);
    pid_ = fork();
    ASSERT_GE(pid_, 0);
    if (pid_ == 0) {
      setsid();
      ioctl(slave_, TIOCSCTTY, 0);
      dup2(slave_, 0);
      dup2(slave_, 1);
      dup2(slave_, 2);
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
  }
  void type(const std::string& keys) {
    ASSERT_EQ(write(master_, keys.data(), keys.size()), static_cast<ssize_t>(keys.size()));
  }
  // Reads the terminal until `what` has appeared (true) or the time is up.
  bool wait_for(const std::string& what) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(kLimit);
    while (seen_.find(what) == std::string::npos) {
      if (std::chrono::steady_clock::now() > end) return false;
      pollfd p{master_, POLLIN, 0};
      if (poll(&p, 1, 500) <= 0) continue;
      char buf[4096];
      ssize_t n = read(master_, buf, sizeof buf);
      if (n <= 0) return false;
      seen_.append(buf, static_cast<size_t>(n));
    }
    return true;
  }
  // vmrun's exit status, -1 if it did not end in time.
  int wait_exit() {
    for (int i = 0; i < kLimit * 10; ++i) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      // Keep draining the terminal so vmrun never blocks writing to it.
      pollfd p{master_, POLLIN, 0};
      if (poll(&p, 1, 100) > 0) {
        char buf[4096];
        ssize_t n = read(master_, buf, sizeof buf);
        if (n > 0) seen_.append(buf, static_cast<size_t>(n));
      }
    }
    // Hung: where its threads are goes into what the failure shows.
    const std::string cmd = "gdb -p " + std::to_string(pid_) +
                            " -batch -ex 'thread apply all bt' 2>&1 | grep -v '^\\[New'";
    if (FILE* p = popen(cmd.c_str(), "r")) {
      char buf[4096];
      size_t n;
      while ((n = fread(buf, 1, sizeof buf, p)) > 0) seen_.append(buf, n);
      pclose(p);
    }
    return -1;
  }

  int master_ = -1, slave_ = -1;
  pid_t pid_ = -1;
  termios before_{};
  std::string seen_;
};

TEST_F(ConsoleTest, ShellAnswersCtrlCReachesTheGuestAndCtrlAXQuits) {
  start({"-it"});
  ASSERT_TRUE(wait_for("# ")) << "no shell prompt: " << seen_;
  type("echo hello-$((6*7))\r");
  ASSERT_TRUE(wait_for("hello-42")) << seen_;
  // Ctrl-C stops the guest's foreground command, not vmrun.
  type("sleep 1000\r");
  type("\x03");
  type("echo status-$?\r");
  ASSERT_TRUE(wait_for("status-130")) << seen_;
  type("\x01x");
  EXPECT_EQ(wait_exit(), 130) << seen_;
  termios after{};
  ASSERT_EQ(tcgetattr(slave_, &after), 0);
  EXPECT_EQ(after.c_lflag, before_.c_lflag);
  EXPECT_EQ(after.c_iflag, before_.c_iflag);
  EXPECT_EQ(after.c_oflag, before_.c_oflag);
}

// On a terminal, interactive is the default (as with kvmtool): the job's
// exit still ends vmrun with its status, and the modes come back.
TEST_F(ConsoleTest, JobOnATerminalExitsWithItsStatus) {
  start({"--log-level", "info", "--", "sh", "-c", "echo done-$((2+3)); exit 7"});
  ASSERT_TRUE(wait_for("done-5")) << seen_;
  EXPECT_EQ(wait_exit(), 7) << seen_;
  termios after{};
  ASSERT_EQ(tcgetattr(slave_, &after), 0);
  EXPECT_EQ(after.c_lflag, before_.c_lflag);
}

TEST_F(ConsoleTest, InteractiveWithoutATerminalIsRefused) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  pid_ = fork();
  if (pid_ == 0) {
    dup2(fds[0], 0);
    dup2(fds[1], 2);
    execl(VMRUN_BINARY, VMRUN_BINARY, "-it", "--", "true", static_cast<char*>(nullptr));
    _exit(127);
  }
  close(fds[1]);
  std::string err;
  char buf[512];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof buf)) > 0) err.append(buf, static_cast<size_t>(n));
  close(fds[0]);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
  EXPECT_EQ(WEXITSTATUS(status), 125);
  EXPECT_NE(err.find("terminal"), std::string::npos) << err;
}

}  // namespace
