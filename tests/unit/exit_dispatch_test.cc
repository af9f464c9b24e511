// handle_exit with a hand-filled kvm_run: port and MMIO accesses reach the
// bus, unclaimed reads float high, malformed or fatal exits stop the VM
// through StopSignal (first request wins).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "devices/bus.h"
#include "vmm/exit_dispatch.h"
#include "vmm/stop_signal.h"

namespace vmrun {
namespace {

constexpr size_t kRunSize = 4096;
constexpr uint32_t kDataOffset = 0xc00;  // past struct kvm_run

class Recorder : public devices::BusDevice {
 public:
  struct Access {
    bool write;
    uint64_t offset;
    std::vector<uint8_t> data;
  };
  void read(uint64_t offset, std::span<uint8_t> data) override {
    for (size_t i = 0; i < data.size(); ++i) {
      data[i] = static_cast<uint8_t>(0xa0 + next_++);
    }
    log.push_back({false, offset, {data.begin(), data.end()}});
  }
  void write(uint64_t offset, std::span<const uint8_t> data) override {
    log.push_back({true, offset, {data.begin(), data.end()}});
  }
  std::vector<Access> log;

 private:
  int next_ = 0;
};

struct alignas(4096) RunArea {
  uint8_t bytes[kRunSize];
};

class ExitDispatchTest : public ::testing::Test {
 protected:
  ExitDispatchTest()
      : area_(std::make_unique<RunArea>()),
        run_(*reinterpret_cast<kvm_run*>(area_->bytes)),
        ctx_{pio_, mmio_, stop_, kRunSize} {
    static_assert(sizeof(kvm_run) <= kDataOffset);
    std::memset(area_->bytes, 0, kRunSize);
    EXPECT_TRUE(pio_.insert(port_dev_, 0x3f8, 8).ok());
    EXPECT_TRUE(mmio_.insert(mmio_dev_, 0xd0000000, 0x1000).ok());
  }

  uint8_t* io_data() { return area_->bytes + kDataOffset; }

  void io_exit(uint8_t direction, uint16_t port, uint8_t size, uint32_t count,
               uint64_t data_offset = kDataOffset) {
    run_.exit_reason = KVM_EXIT_IO;
    run_.io.direction = direction;
    run_.io.port = port;
    run_.io.size = size;
    run_.io.count = count;
    run_.io.data_offset = data_offset;
  }

  void mmio_exit(uint64_t addr, uint32_t len, bool is_write) {
    run_.exit_reason = KVM_EXIT_MMIO;
    run_.mmio.phys_addr = addr;
    run_.mmio.len = len;
    run_.mmio.is_write = is_write;
  }

  void expect_guest_error(const char* why) {
    SCOPED_TRACE(why);
    EXPECT_EQ(handle_exit(run_, ctx_), ExitAction::kStop);
    ASSERT_TRUE(stop_.stopped());
    auto r = stop_.result();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->reason, StopReason::kGuestError);
    EXPECT_FALSE(r->detail.empty());
  }

  std::unique_ptr<RunArea> area_;
  kvm_run& run_;
  devices::Bus pio_{"pio"};
  devices::Bus mmio_{"mmio"};
  std::shared_ptr<Recorder> port_dev_ = std::make_shared<Recorder>();
  std::shared_ptr<Recorder> mmio_dev_ = std::make_shared<Recorder>();
  StopSignal stop_;
  ExitContext ctx_;
};

TEST_F(ExitDispatchTest, PortWriteReachesDevice) {
  io_exit(KVM_EXIT_IO_OUT, 0x3f9, 1, 1);
  io_data()[0] = 0x42;
  EXPECT_EQ(handle_exit(run_, ctx_), ExitAction::kContinue);
  ASSERT_EQ(port_dev_->log.size(), 1u);
  EXPECT_TRUE(port_dev_->log[0].write);
  EXPECT_EQ(port_dev_->log[0].offset, 1u);
  EXPECT_EQ(port_dev_->log[0].data, std::vector<uint8_t>{0x42});
  EXPECT_FALSE(stop_.stopped());
}

TEST_F(ExitDispatchTest, FourBytePortWrite) {
  io_exit(KVM_EXIT_IO_OUT, 0x3f8, 4, 1);
  const uint8_t word[] = {0x01, 0x00, 0x4d, 0x56};
  std::memcpy(io_data(), word, 4);
  EXPECT_EQ(handle_exit(run_, ctx_), ExitAction::kContinue);
  ASSERT_EQ(port_dev_->log.size(), 1u);
  EXPECT_EQ(port_dev_->log[0].data, std::vector<uint8_t>(word, word + 4));
}

TEST_F(ExitDispatchTest, PortReadFillsRunArea) {
  io_exit(KVM_EXIT_IO_IN, 0x3fd, 1, 1);
  EXPECT_EQ(handle_exit(run_, ctx_), ExitAction::kContinue);
  ASSERT_EQ(port_dev_->log.size(), 1u);
  EXPECT_EQ(port_dev_->log[0].offset, 5u);
  EXPECT_EQ(io_data()[0], 0xa0);
}

TEST_F(ExitDispatchTest, UnclaimedPortReadsAllOnes) {
  io_exit(KVM_EXIT_IO_IN, 0xcfc, 4, 1);
  std::memset(io_data(), 0, 8);
  EXPECT_EQ(handle_exit(run_, ctx_), ExitAction::kContinue);
  EXPECT_EQ(std::vector<uint8_t>(io_data(), io_data() + 5),
            (std::vector<uint8_t>{0xff, 0xff, 0xff, 0xff, 0x00}));
  EXPECT_FALSE(stop_.stopped());
}

TEST_F(ExitDispatchTest, UnclaimedPortWriteIsDropped) {
  io_exit(KVM_EXIT_IO_OUT, 0x80, 1, 1);  // the POST/io_delay port
  EXPECT_EQ(handle_exit(run_, ctx_), ExitAction::kContinue);
  EXPECT_TRUE(port_dev_->log.empty());
  EXPECT_FALSE(stop_.stopped());
}

TEST_F(ExitDispatchTest, StringOutputMakesOneAccessPerElement) {
  io_exit(KVM_EXIT_IO_OUT, 0x3f8, 1, 3);
  io_data()[0] = 'a';
  io_data()[1] = 'b';
  io_data()[2] = 'c';
  EXPECT_EQ(handle_exit(run_, ctx_), ExitAction::kContinue);
  ASSERT_EQ(port_dev_->log.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(port_dev_->log[i].write);
    EXPECT_EQ(port_dev_->log[i].offset, 0u);
    EXPECT_EQ(port_dev_->log[i].data,
              std::vector<uint8_t>{static_cast<uint8_t>('a' + i)});
  }
}

TEST_F(ExitDispatchTest, StringInputFillsSuccessiveElements) {
  io_exit(KVM_EXIT_IO_IN, 0x3f8, 2, 3);
  EXPECT_EQ(handle_exit(run_, ctx_), ExitAction::kContinue);
  ASSERT_EQ(port_dev_->log.size(), 3u);
  EXPECT_EQ(std::vector<uint8_t>(io_data(), io_data() + 6),
            (std::vector<uint8_t>{0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5}));
}

TEST_F(ExitDispatchTest, StringInputFromUnclaimedPort) {
  io_exit(KVM_EXIT_IO_IN, 0x1234, 1, 4);
  EXPECT_EQ(handle_exit(run_, ctx_), ExitAction::kContinue);
  EXPECT_EQ(std::vector<uint8_t>(io_data(), io_data() + 4),
            std::vector<uint8_t>(4, 0xff));
}

TEST_F(ExitDispatchTest, IoDataAtTheVeryEndIsAccepted) {
  io_exit(KVM_EXIT_IO_OUT, 0x3f8, 4, 2, kRunSize - 8);
  EXPECT_EQ(handle_exit(run_, ctx_), ExitAction::kContinue);
  EXPECT_EQ(port_dev_->log.size(), 2u);
}

TEST_F(ExitDispatchTest, DataOffsetBeyondRunArea) {
  io_exit(KVM_EXIT_IO_OUT, 0x3f8, 1, 1, kRunSize + 1);
  expect_guest_error("offset past the end");
  EXPECT_TRUE(port_dev_->log.empty());
}

TEST_F(ExitDispatchTest, DataRunningPastRunArea) {
  io_exit(KVM_EXIT_IO_IN, 0x3f8, 4, 2, kRunSize - 4);
  expect_guest_error("second element past the end");
  EXPECT_TRUE(port_dev_->log.empty());
}

TEST_F(ExitDispatchTest, HugeCountDoesNotOverflow) {
  io_exit(KVM_EXIT_IO_IN, 0x3f8, 4, 0xffffffffu);
  expect_guest_error("count * size wraps 32 bits");
  EXPECT_TRUE(port_dev_->log.empty());
}

TEST_F(ExitDispatchTest, HugeDataOffsetDoesNotOverflow) {
  io_exit(KVM_EXIT_IO_OUT, 0x3f8, 1, 1, UINT64_MAX);
  expect_guest_error("offset near 2^64");
}

TEST_F(ExitDispatchTest, BadIoSizes) {
  io_exit(KVM_EXIT_IO_OUT, 0x3f8, 0, 1);
  expect_guest_error("size 0");
  EXPECT_TRUE(port_dev_->log.empty());
}

TEST_F(ExitDispatchTest, IoSizeEightIsMalformed) {
  io_exit(KVM_EXIT_IO_OUT, 0x3f8, 8, 1);
  expect_guest_error("size 8");
  EXPECT_TRUE(port_dev_->log.empty());
}

TEST_F(ExitDispatchTest, MmioWrite) {
  mmio_exit(0xd0000010, 4, true);
  const uint8_t v[] = {1, 2, 3, 4};
  std::memcpy(run_.mmio.data, v, 4);
  EXPECT_EQ(handle_exit(run_, ctx_), ExitAction::kContinue);
  ASSERT_EQ(mmio_dev_->log.size(), 1u);
  EXPECT_TRUE(mmio_dev_->log[0].write);
  EXPECT_EQ(mmio_dev_->log[0].offset, 0x10u);
  EXPECT_EQ(mmio_dev_->log[0].data, std::vector<uint8_t>(v, v + 4));
}

TEST_F(ExitDispatchTest, MmioRead) {
  mmio_exit(0xd0000ffc, 4, false);
  EXPECT_EQ(handle_exit(run_, ctx_), ExitAction::kContinue);
  ASSERT_EQ(mmio_dev_->log.size(), 1u);
  EXPECT_EQ(mmio_dev_->log[0].offset, 0xffcu);
  EXPECT_EQ(std::vector<uint8_t>(run_.mmio.data, run_.mmio.data + 4),
            (std::vector<uint8_t>{0xa0, 0xa1, 0xa2, 0xa3}));
}

TEST_F(ExitDispatchTest, UnclaimedMmioReadsAllOnes) {
  mmio_exit(0xfed00000, 8, false);  // HPET: not emulated
  std::memset(run_.mmio.data, 0, 8);
  EXPECT_EQ(handle_exit(run_, ctx_), ExitAction::kContinue);
  EXPECT_EQ(std::vector<uint8_t>(run_.mmio.data, run_.mmio.data + 8),
            std::vector<uint8_t>(8, 0xff));
  EXPECT_FALSE(stop_.stopped());
}

TEST_F(ExitDispatchTest, MmioStraddlingDeviceEndIsUnclaimed) {
  mmio_exit(0xd0000ffe, 4, false);
  EXPECT_EQ(handle_exit(run_, ctx_), ExitAction::kContinue);
  EXPECT_TRUE(mmio_dev_->log.empty());
  EXPECT_EQ(run_.mmio.data[0], 0xff);
}

TEST_F(ExitDispatchTest, MmioLengthZeroIsMalformed) {
  mmio_exit(0xd0000000, 0, true);
  expect_guest_error("len 0");
  EXPECT_TRUE(mmio_dev_->log.empty());
}

TEST_F(ExitDispatchTest, MmioLengthNineIsMalformed) {
  mmio_exit(0xd0000000, 9, false);
  expect_guest_error("len 9");
  EXPECT_TRUE(mmio_dev_->log.empty());
}

TEST_F(ExitDispatchTest, ShutdownIsTripleFault) {
  run_.exit_reason = KVM_EXIT_SHUTDOWN;
  EXPECT_EQ(handle_exit(run_, ctx_), ExitAction::kStop);
  auto r = stop_.result();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->reason, StopReason::kTripleFault);
}

TEST_F(ExitDispatchTest, SystemEventIsReset) {
  run_.exit_reason = KVM_EXIT_SYSTEM_EVENT;
  EXPECT_EQ(handle_exit(run_, ctx_), ExitAction::kStop);
  ASSERT_TRUE(stop_.result().has_value());
  EXPECT_EQ(stop_.result()->reason, StopReason::kGuestReset);
}

TEST_F(ExitDispatchTest, InternalErrorCarriesSuberror) {
  run_.exit_reason = KVM_EXIT_INTERNAL_ERROR;
  run_.internal.suberror = KVM_INTERNAL_ERROR_EMULATION;
  expect_guest_error("internal error");
  EXPECT_NE(stop_.result()->detail.find("suberror 1"), std::string::npos)
      << stop_.result()->detail;
}

TEST_F(ExitDispatchTest, FailEntryCarriesHardwareReason) {
  run_.exit_reason = KVM_EXIT_FAIL_ENTRY;
  run_.fail_entry.hardware_entry_failure_reason = 0x80000021;
  expect_guest_error("fail entry");
  EXPECT_NE(stop_.result()->detail.find("0x80000021"), std::string::npos)
      << stop_.result()->detail;
}

TEST_F(ExitDispatchTest, UnknownExitReason) {
  run_.exit_reason = 9999;
  expect_guest_error("unknown");
  EXPECT_NE(stop_.result()->detail.find("9999"), std::string::npos)
      << stop_.result()->detail;
}

TEST_F(ExitDispatchTest, InterruptedRunContinues) {
  run_.exit_reason = KVM_EXIT_INTR;
  EXPECT_EQ(handle_exit(run_, ctx_), ExitAction::kContinue);
  EXPECT_FALSE(stop_.stopped());
}

TEST_F(ExitDispatchTest, FirstStopWins) {
  run_.exit_reason = KVM_EXIT_SHUTDOWN;
  EXPECT_EQ(handle_exit(run_, ctx_), ExitAction::kStop);
  run_.exit_reason = KVM_EXIT_INTERNAL_ERROR;
  EXPECT_EQ(handle_exit(run_, ctx_), ExitAction::kStop);
  EXPECT_FALSE(stop_.request({StopReason::kTimeout, {}, "late"}));
  ASSERT_TRUE(stop_.result().has_value());
  EXPECT_EQ(stop_.result()->reason, StopReason::kTripleFault);
  EXPECT_TRUE(stop_.result()->detail.empty());
}

TEST(StopSignalTest, FirstRequestWinsAndWakesTheLoop) {
  StopSignal stop;
  EXPECT_FALSE(stop.stopped());
  EXPECT_FALSE(stop.result().has_value());
  uint64_t n = 0;
  EXPECT_LT(read(stop.fd(), &n, sizeof n), 0);  // nothing to wake for yet
  EXPECT_TRUE(stop.request({StopReason::kTimeout, {}, "10 s"}));
  EXPECT_FALSE(stop.request({StopReason::kHostError, {}, "late"}));
  EXPECT_TRUE(stop.stopped());
  ASSERT_EQ(read(stop.fd(), &n, sizeof n), static_cast<ssize_t>(sizeof n));
  EXPECT_EQ(n, 1u);  // one wake-up, from the winning request only
  EXPECT_EQ(stop.result()->reason, StopReason::kTimeout);
  EXPECT_EQ(stop.result()->detail, "10 s");
}

}  // namespace
}  // namespace vmrun
