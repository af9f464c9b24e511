// The interactive console's pieces without a guest: Ctrl-A escapes, and raw
// mode on a pseudo-terminal put back afterwards.
#include <gtest/gtest.h>
#include <pty.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <string>

#include "vmm/terminal.h"

namespace vmrun {
namespace {

std::vector<uint8_t> bytes(const std::string& s) { return {s.begin(), s.end()}; }

TEST(EscapeFilterTest, PlainInputPassesThroughCtrlCIncluded) {
  EscapeFilter f;
  auto out = f.feed(bytes("ls -l\r\x03"));
  EXPECT_EQ(out.to_guest, bytes("ls -l\r\x03"));
  EXPECT_FALSE(out.quit);
}

TEST(EscapeFilterTest, CtrlAXQuitsAndDropsWhatFollows) {
  EscapeFilter f;
  auto out = f.feed(bytes("ab\x01xcd"));
  EXPECT_TRUE(out.quit);
  EXPECT_EQ(out.to_guest, bytes("ab"));
}

TEST(EscapeFilterTest, EscapeSplitAcrossReads) {
  EscapeFilter f;
  auto first = f.feed(bytes("a\x01"));
  EXPECT_EQ(first.to_guest, bytes("a"));
  EXPECT_FALSE(first.quit);
  EXPECT_TRUE(f.feed(bytes("x")).quit);
}

TEST(EscapeFilterTest, DoubleCtrlASendsOneAndOtherKeysSendBoth) {
  EscapeFilter f;
  EXPECT_EQ(f.feed(bytes("\x01\x01")).to_guest, bytes("\x01"));
  EXPECT_EQ(f.feed(bytes("\x01q")).to_guest, bytes("\x01q"));
}

TEST(EscapeFilterTest, CtrlAHAsksForHelp) {
  EscapeFilter f;
  auto out = f.feed(bytes("\x01h"));
  EXPECT_TRUE(out.help);
  EXPECT_TRUE(out.to_guest.empty());
  EXPECT_NE(EscapeFilter::help_text().find("Ctrl-A x"), std::string::npos);
}

TEST(RawTerminalTest, RawWhileHeldAndRestoredAfter) {
  int master = -1, slave = -1;
  ASSERT_EQ(openpty(&master, &slave, nullptr, nullptr, nullptr), 0);
  termios before{};
  ASSERT_EQ(tcgetattr(slave, &before), 0);
  ASSERT_TRUE(before.c_lflag & ICANON);
  {
    auto raw = RawTerminal::enter(slave);
    ASSERT_TRUE(raw.ok()) << raw.error().message();
    termios during{};
    tcgetattr(slave, &during);
    EXPECT_FALSE(during.c_lflag & (ICANON | ECHO | ISIG));
  }
  termios after{};
  tcgetattr(slave, &after);
  EXPECT_EQ(after.c_lflag, before.c_lflag);
  EXPECT_EQ(after.c_iflag, before.c_iflag);
  EXPECT_EQ(after.c_oflag, before.c_oflag);
  close(master);
  close(slave);
}

TEST(RawTerminalTest, NotATerminalIsAnError) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  auto raw = RawTerminal::enter(fds[0]);
  EXPECT_FALSE(raw.ok());
  close(fds[0]);
  close(fds[1]);
}

// A crash while raw still gives the user their terminal back.
TEST(RawTerminalTest, RestoredWhenTheProcessDiesOnASignal) {
  int master = -1, slave = -1;
  ASSERT_EQ(openpty(&master, &slave, nullptr, nullptr, nullptr), 0);
  termios before{};
  tcgetattr(slave, &before);
  pid_t pid = fork();
  if (pid == 0) {
    auto raw = RawTerminal::enter(slave);
    if (!raw.ok()) _exit(2);
    abort();
  }
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status));
  EXPECT_EQ(WTERMSIG(status), SIGABRT);
  termios after{};
  tcgetattr(slave, &after);
  EXPECT_EQ(after.c_lflag, before.c_lflag);
  close(master);
  close(slave);
}

}  // namespace
}  // namespace vmrun
