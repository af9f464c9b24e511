// The small PC devices: the exit port (docs/guest-protocol.md), the i8042
// reset line and the CMOS clock.
#include <gtest/gtest.h>

#include <cstdint>
#include <ctime>
#include <optional>
#include <vector>

#include "devices/cmos_rtc.h"
#include "devices/exit_port.h"
#include "devices/i8042.h"

namespace vmrun::devices {
namespace {

std::vector<uint8_t> le32(uint32_t v) {
  return {static_cast<uint8_t>(v), static_cast<uint8_t>(v >> 8),
          static_cast<uint8_t>(v >> 16), static_cast<uint8_t>(v >> 24)};
}

// ---- ExitPort ----

TEST(ExitPortTest, DecodesEveryKind) {
  auto exited = decode_status_word(0x564d0003);
  ASSERT_TRUE(exited.has_value());
  EXPECT_EQ(exited->kind, JobEnd::kExited);
  EXPECT_EQ(exited->value, 3);

  auto signaled = decode_status_word(0x564d0109);
  ASSERT_TRUE(signaled.has_value());
  EXPECT_EQ(signaled->kind, JobEnd::kSignaled);
  EXPECT_EQ(signaled->value, 9);

  auto failed = decode_status_word(0x564d027f);
  ASSERT_TRUE(failed.has_value());
  EXPECT_EQ(failed->kind, JobEnd::kInitFailed);
  EXPECT_EQ(failed->value, 127);

  auto ready = decode_status_word(0x564d0300);  // init up, console set up
  ASSERT_TRUE(ready.has_value());
  EXPECT_EQ(ready->kind, JobEnd::kInitReady);
  EXPECT_EQ(ready->value, 0);

  auto full = decode_status_word(0x564d00ff);
  ASSERT_TRUE(full.has_value());
  EXPECT_EQ(full->value, 255);
}

TEST(ExitPortTest, RejectsWrongMagicAndUnknownKind) {
  EXPECT_FALSE(decode_status_word(0x00000000).has_value());
  EXPECT_FALSE(decode_status_word(0x4d560003).has_value());  // bytes swapped
  EXPECT_FALSE(decode_status_word(0x564c0003).has_value());
  EXPECT_FALSE(decode_status_word(0xffff0000).has_value());
  EXPECT_FALSE(decode_status_word(0x564d0400).has_value());  // kind 4
  EXPECT_FALSE(decode_status_word(0x564dff00).has_value());
}

class ExitPortDeviceTest : public ::testing::Test {
 protected:
  ExitPortDeviceTest()
      : port_([this](JobStatus s) { statuses_.push_back(s); }) {}
  std::vector<JobStatus> statuses_;
  ExitPort port_;
};

TEST_F(ExitPortDeviceTest, FourByteWriteReportsStatus) {
  port_.write(0, le32(0x564d012a));
  ASSERT_EQ(statuses_.size(), 1u);
  EXPECT_EQ(statuses_[0].kind, JobEnd::kSignaled);
  EXPECT_EQ(statuses_[0].value, 42);
}

TEST_F(ExitPortDeviceTest, OtherWritesAreIgnored) {
  auto word = le32(0x564d0001);
  port_.write(0, std::span(word).first(1));   // outb
  port_.write(0, std::span(word).first(2));   // outw
  port_.write(1, std::span(word).first(3));   // unaligned
  port_.write(2, std::span(word).first(2));
  port_.write(0, std::span<const uint8_t>());  // empty
  port_.write(0, le32(0x12345678));           // no magic
  port_.write(0, le32(0x564d0400));           // kind 4
  EXPECT_TRUE(statuses_.empty());
}

TEST_F(ExitPortDeviceTest, ReadsReturnAllOnes) {
  std::vector<uint8_t> buf = {0, 0, 0, 0};
  port_.read(0, buf);
  EXPECT_EQ(buf, (std::vector<uint8_t>{0xff, 0xff, 0xff, 0xff}));
  uint8_t b = 0;
  port_.read(3, std::span(&b, 1));
  EXPECT_EQ(b, 0xff);
  EXPECT_TRUE(statuses_.empty());
}

// ---- I8042 ----

TEST(I8042Test, CommandFeResetsTheMachine) {
  int resets = 0;
  I8042 kbd([&] { ++resets; });
  const uint8_t cmd = 0xfe;
  kbd.write(I8042::kCommandPort - I8042::kDataPort, std::span(&cmd, 1));
  EXPECT_EQ(resets, 1);
}

TEST(I8042Test, OtherWritesDoNotReset) {
  int resets = 0;
  I8042 kbd([&] { ++resets; });
  for (uint8_t cmd : {0x00, 0x20, 0x60, 0xad, 0xd1, 0xff}) {
    kbd.write(4, std::span(&cmd, 1));
  }
  const uint8_t fe = 0xfe;
  kbd.write(0, std::span(&fe, 1));  // 0xfe on the data port is just data
  kbd.write(4, std::span<const uint8_t>());
  EXPECT_EQ(resets, 0);
}

uint8_t read_port(I8042& kbd, uint64_t offset) {
  uint8_t b = 0xaa;
  kbd.read(offset, std::span(&b, 1));
  return b;
}

void write_port(I8042& kbd, uint64_t offset, uint8_t value) {
  kbd.write(offset, std::span(&value, 1));
}

TEST(I8042Test, StatusReadsEmptyAndReady) {
  I8042 kbd([] {});
  // No output pending (bit 0), input buffer free (bit 1): the kernel's
  // reset path never waits. System flag (bit 2): self-test passed.
  EXPECT_EQ(read_port(kbd, 4), 0x04);
}

// Linux's probe reads the command byte (CTR); unanswered, it waits seconds.
TEST(I8042Test, CommandByteCanBeReadAndWritten) {
  I8042 kbd([] {});
  write_port(kbd, 4, 0x20);
  EXPECT_EQ(read_port(kbd, 4) & 0x01, 0x01) << "output buffer full";
  const uint8_t ctr = read_port(kbd, 0);
  EXPECT_EQ(read_port(kbd, 4) & 0x01, 0x00) << "read drains it";
  write_port(kbd, 4, 0x60);
  write_port(kbd, 0, static_cast<uint8_t>(ctr ^ 0x03));
  write_port(kbd, 4, 0x20);
  EXPECT_EQ(read_port(kbd, 0), ctr ^ 0x03);
}

TEST(I8042Test, SelfTestsPassAndAuxIsAbsent) {
  I8042 kbd([] {});
  write_port(kbd, 4, 0xaa);
  EXPECT_EQ(read_port(kbd, 0), 0x55);
  write_port(kbd, 4, 0xab);
  EXPECT_EQ(read_port(kbd, 0), 0x00);
  write_port(kbd, 4, 0xa9);
  EXPECT_NE(read_port(kbd, 0), 0x00) << "aux interface test must not pass";
}

TEST(I8042Test, HostileGuestCannotGrowTheOutputQueue) {
  I8042 kbd([] {});
  for (int i = 0; i < 100000; ++i) write_port(kbd, 4, 0xaa);
  int bytes = 0;
  while ((read_port(kbd, 4) & 0x01) && bytes < 100000) {
    read_port(kbd, 0);
    ++bytes;
  }
  EXPECT_LE(bytes, 16);
  EXPECT_GT(bytes, 0);
}

// ---- CmosRtc ----

// 2026-11-22 01:02:03 UTC, a Sunday.
std::time_t fixed_time() {
  std::tm tm{};
  tm.tm_year = 2026 - 1900;
  tm.tm_mon = 10;
  tm.tm_mday = 22;
  tm.tm_hour = 1;
  tm.tm_min = 2;
  tm.tm_sec = 3;
  return timegm(&tm);
}

uint8_t cmos_read(CmosRtc& rtc, uint8_t index) {
  rtc.write(0, std::span(&index, 1));
  uint8_t v = 0;
  rtc.read(1, std::span(&v, 1));
  return v;
}

void cmos_write(CmosRtc& rtc, uint8_t index, uint8_t value) {
  rtc.write(0, std::span(&index, 1));
  rtc.write(1, std::span(&value, 1));
}

TEST(CmosRtcTest, TimeRegistersAreBcdUtc) {
  CmosRtc rtc(fixed_time);
  EXPECT_EQ(cmos_read(rtc, 0x00), 0x03);  // seconds
  EXPECT_EQ(cmos_read(rtc, 0x02), 0x02);  // minutes
  EXPECT_EQ(cmos_read(rtc, 0x04), 0x01);  // hours (24h)
  EXPECT_EQ(cmos_read(rtc, 0x06), 0x01);  // weekday, Sunday = 1
  EXPECT_EQ(cmos_read(rtc, 0x07), 0x22);  // day of month
  EXPECT_EQ(cmos_read(rtc, 0x08), 0x11);  // month
  EXPECT_EQ(cmos_read(rtc, 0x09), 0x26);  // year
  EXPECT_EQ(cmos_read(rtc, 0x32), 0x20);  // century
}

TEST(CmosRtcTest, FollowsTheClock) {
  std::time_t now = fixed_time();
  CmosRtc rtc([&] { return now; });
  EXPECT_EQ(cmos_read(rtc, 0x00), 0x03);
  now += 3600 + 56;
  EXPECT_EQ(cmos_read(rtc, 0x00), 0x59);
  EXPECT_EQ(cmos_read(rtc, 0x04), 0x02);
}

TEST(CmosRtcTest, StatusRegisters) {
  CmosRtc rtc(fixed_time);
  EXPECT_EQ(cmos_read(rtc, 0x0a) & 0x80, 0);  // no update in progress
  EXPECT_EQ(cmos_read(rtc, 0x0b), 0x02);      // 24h, BCD
  EXPECT_EQ(cmos_read(rtc, 0x0c), 0x00);
  EXPECT_EQ(cmos_read(rtc, 0x0d), 0x80);      // valid RAM and time
}

TEST(CmosRtcTest, NmiBitInIndexIsMasked) {
  CmosRtc rtc(fixed_time);
  EXPECT_EQ(cmos_read(rtc, 0x80 | 0x00), 0x03);
  EXPECT_EQ(cmos_read(rtc, 0x80 | 0x09), 0x26);
  EXPECT_EQ(cmos_read(rtc, 0x80 | 0x0d), 0x80);
}

TEST(CmosRtcTest, RamBytesKeepWrites) {
  CmosRtc rtc(fixed_time);
  cmos_write(rtc, 0x0e, 0x12);
  cmos_write(rtc, 0x40, 0x34);
  cmos_write(rtc, 0x7f, 0x56);
  cmos_write(rtc, 0x80 | 0x41, 0x78);  // NMI bit set: still byte 0x41
  EXPECT_EQ(cmos_read(rtc, 0x0e), 0x12);
  EXPECT_EQ(cmos_read(rtc, 0x40), 0x34);
  EXPECT_EQ(cmos_read(rtc, 0x7f), 0x56);
  EXPECT_EQ(cmos_read(rtc, 0x41), 0x78);
  EXPECT_EQ(cmos_read(rtc, 0x42), 0x00);
}

TEST(CmosRtcTest, ClockAndStatusIgnoreWrites) {
  CmosRtc rtc(fixed_time);
  cmos_write(rtc, 0x00, 0x59);
  cmos_write(rtc, 0x0b, 0x06);  // binary mode: not supported, ignored
  cmos_write(rtc, 0x32, 0x19);
  EXPECT_EQ(cmos_read(rtc, 0x00), 0x03);
  EXPECT_EQ(cmos_read(rtc, 0x0b), 0x02);
  EXPECT_EQ(cmos_read(rtc, 0x32), 0x20);  // century follows the clock
}

TEST(CmosRtcTest, IndexPortReadsAllOnes) {
  CmosRtc rtc(fixed_time);
  uint8_t v = 0;
  rtc.read(0, std::span(&v, 1));
  EXPECT_EQ(v, 0xff);
}

}  // namespace
}  // namespace vmrun::devices
