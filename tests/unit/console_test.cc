// The guest console sink: the panic watcher and the writer to vmrun's stdout.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "vmm/console.h"

namespace vmrun {
namespace {

constexpr const char* kPanicLine =
    "[    1.234567] Kernel panic - not syncing: Attempted to kill init! "
    "exitcode=0x00000100\r\n";
constexpr const char* kPanicMessage =
    "Attempted to kill init! exitcode=0x00000100";

std::span<const uint8_t> bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

TEST(PanicWatcherTest, FindsPanicInOneLine) {
  PanicWatcher w;
  w.feed(bytes(std::string("Linux version 6.1\r\n") + kPanicLine));
  ASSERT_TRUE(w.panic_message().has_value());
  EXPECT_EQ(*w.panic_message(), kPanicMessage);
}

TEST(PanicWatcherTest, FindsPanicSplitAcrossFeeds) {
  const std::string text = std::string("boot\n") + kPanicLine;
  for (size_t chunk : {1, 2, 3, 7, 16}) {
    PanicWatcher w;
    for (size_t i = 0; i < text.size(); i += chunk) {
      w.feed(bytes(text.substr(i, chunk)));
    }
    ASSERT_TRUE(w.panic_message().has_value()) << "chunk " << chunk;
    EXPECT_EQ(*w.panic_message(), kPanicMessage) << "chunk " << chunk;
  }
}

TEST(PanicWatcherTest, MarkerSplitAtEveryPosition) {
  const std::string text = kPanicLine;
  for (size_t cut = 1; cut < text.size(); ++cut) {
    PanicWatcher w;
    w.feed(bytes(text.substr(0, cut)));
    w.feed(bytes(text.substr(cut)));
    ASSERT_TRUE(w.panic_message().has_value()) << "cut at " << cut;
    EXPECT_EQ(*w.panic_message(), kPanicMessage) << "cut at " << cut;
  }
}

TEST(PanicWatcherTest, AcceptsBareNewlineAndBareCarriageReturn) {
  PanicWatcher lf;
  lf.feed(bytes("Kernel panic - not syncing: VFS: Unable to mount root fs\n"));
  ASSERT_TRUE(lf.panic_message().has_value());
  EXPECT_EQ(*lf.panic_message(), "VFS: Unable to mount root fs");
  PanicWatcher cr;
  cr.feed(bytes("Kernel panic - not syncing: Fatal exception\r"));
  ASSERT_TRUE(cr.panic_message().has_value());
  EXPECT_EQ(*cr.panic_message(), "Fatal exception");
}

TEST(PanicWatcherTest, KeepsTheFirstPanic) {
  PanicWatcher w;
  w.feed(bytes(kPanicLine));
  w.feed(bytes("Kernel panic - not syncing: second panic\n"));
  w.feed(bytes("---[ end Kernel panic - not syncing: third ]---\n"));
  ASSERT_TRUE(w.panic_message().has_value());
  EXPECT_EQ(*w.panic_message(), kPanicMessage);
}

TEST(PanicWatcherTest, IgnoresOrdinaryOutput) {
  PanicWatcher w;
  w.feed(bytes("hello\r\nKernel panic is a phrase\nnot syncing: x\n"
               "kernel panic - not syncing: lower case\n\n\r\n"));
  EXPECT_FALSE(w.panic_message().has_value());
}

TEST(PanicWatcherTest, PanicWithoutMarkerInSameLineIsNotJoined) {
  PanicWatcher w;
  w.feed(bytes("Kernel panic - not\nsyncing: x\n"));
  EXPECT_FALSE(w.panic_message().has_value());
}

TEST(PanicWatcherTest, LongLinesStayBounded) {
  PanicWatcher w;
  // Megabytes of output without a line break (a binary dump, a progress
  // bar) must not be kept; the next line still counts.
  const std::string junk(1 << 20, 'x');
  for (int i = 0; i < 8; ++i) w.feed(bytes(junk));
  w.feed(bytes("\n"));
  EXPECT_FALSE(w.panic_message().has_value());
  // A panic with a huge message: the message is cut, not grown unbounded.
  w.feed(bytes("Kernel panic - not syncing: " + std::string(100000, 'm') + "\n"));
  ASSERT_TRUE(w.panic_message().has_value());
  EXPECT_LE(w.panic_message()->size(), 1024u);
  EXPECT_GT(w.panic_message()->size(), 100u);
  EXPECT_EQ(w.panic_message()->substr(0, 3), "mmm");
}

// A job may print a lot without a newline (a progress bar, binary data)
// right before the kernel panics; the panic must still be recognized.
TEST(PanicWatcherTest, FindsPanicAfterLongUnterminatedOutput) {
  PanicWatcher w;
  w.feed(bytes(std::string(4096, '#')));
  w.feed(bytes(kPanicLine));
  ASSERT_TRUE(w.panic_message().has_value());
  EXPECT_EQ(*w.panic_message(), kPanicMessage);
}

class ConsoleOutputTest : public ::testing::Test {
 protected:
  void SetUp() override {
    old_sigpipe_ = signal(SIGPIPE, SIG_IGN);  // as vmrun's main does
    int fds[2];
    ASSERT_EQ(pipe2(fds, O_CLOEXEC), 0);
    read_fd_ = fds[0];
    write_fd_ = fds[1];
  }
  void TearDown() override {
    if (read_fd_ >= 0) close(read_fd_);
    close(write_fd_);
    signal(SIGPIPE, old_sigpipe_);
  }
  std::string drain(size_t n) {
    std::string out;
    char buf[4096];
    while (out.size() < n) {
      ssize_t got = read(read_fd_, buf, sizeof buf);
      if (got <= 0) break;
      out.append(buf, static_cast<size_t>(got));
    }
    return out;
  }
  sighandler_t old_sigpipe_ = SIG_DFL;
  int read_fd_ = -1;
  int write_fd_ = -1;
};

TEST_F(ConsoleOutputTest, WritesAllBytesInOrder) {
  ConsoleOutput out(write_fd_);
  std::string expected;
  for (int i = 0; i < 500; ++i) {
    std::string piece = "line " + std::to_string(i) + "\r\n";
    out.write(bytes(piece));
    expected += piece;
  }
  std::string binary;
  for (int c = 0; c < 256; ++c) binary += static_cast<char>(c);
  out.write(bytes(binary));
  expected += binary;
  ASSERT_LT(expected.size(), 60000u);  // fits the pipe: no reader thread
  EXPECT_EQ(drain(expected.size()), expected);
}

TEST_F(ConsoleOutputTest, ReportsPanicFromItsOutput) {
  ConsoleOutput out(write_fd_);
  EXPECT_FALSE(out.panic_message().has_value());
  out.write(bytes("Kernel panic - not syncing: "));
  out.write(bytes("oops\n"));
  ASSERT_TRUE(out.panic_message().has_value());
  EXPECT_EQ(*out.panic_message(), "oops");
}

// The UART hands over a byte per guest exit: a line goes out whole when it
// ends; a partial one (a prompt) waits for the main loop, which is told
// through ready_fd().
TEST_F(ConsoleOutputTest, LinesGoOutWholeAndPartialLinesOnTheMainLoopsFlush) {
  ConsoleOutput out(write_fd_);
  for (char c : std::string("line\n/ # ")) out.write(bytes(std::string(1, c)));
  EXPECT_EQ(drain(5), "line\n");
  pollfd ready{out.ready_fd(), POLLIN, 0};
  ASSERT_EQ(poll(&ready, 1, 0), 1) << "a partial line is waiting";
  out.flush_partial();
  EXPECT_EQ(drain(4), "/ # ");
  ready.revents = 0;
  EXPECT_EQ(poll(&ready, 1, 0), 0) << "nothing waits any more";
  out.write(bytes("tail"));
  out.flush();  // the end of the run
  EXPECT_EQ(drain(4), "tail");
}

// The main loop must never block on stdout: with the pipe full, a partial
// line stays queued, and goes out, still in order, once there is room.
TEST_F(ConsoleOutputTest, PartialFlushDoesNotBlockOnAFullPipe) {
  ConsoleOutput out(write_fd_);
  const int flags = fcntl(write_fd_, F_GETFL);
  ASSERT_EQ(fcntl(write_fd_, F_SETFL, flags | O_NONBLOCK), 0);
  std::string filler;
  const std::string chunk(1024, 'f');
  while (write(write_fd_, chunk.data(), chunk.size()) > 0) filler += chunk;
  ASSERT_EQ(fcntl(write_fd_, F_SETFL, flags), 0);  // blocking again, as stdout is
  out.write(bytes("prompt> "));
  out.flush_partial();  // returns: no room
  EXPECT_EQ(drain(filler.size()), filler);
  out.flush_partial();
  EXPECT_EQ(drain(8), "prompt> ");
}

TEST_F(ConsoleOutputTest, ClosedReaderNeitherCrashesNorBlocks) {
  ConsoleOutput out(write_fd_);
  out.write(bytes("before\n"));
  close(read_fd_);
  read_fd_ = -1;
  // With the pipe gone, every write gets EPIPE; the guest keeps running.
  std::string big(256 * 1024, 'z');  // more than a pipe holds
  big.back() = '\n';
  out.write(bytes(big));
  out.write(bytes(big));
  // Panics are still noticed after the output is gone.
  out.write(bytes(kPanicLine));
  ASSERT_TRUE(out.panic_message().has_value());
  EXPECT_EQ(*out.panic_message(), kPanicMessage);
}

}  // namespace
}  // namespace vmrun
