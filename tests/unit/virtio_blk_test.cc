// virtio-blk requests as a driver sends them (tests/support/virtq_builder.h)
// against an in-memory disk: every request type's status and data, the
// config space, and malformed requests, which must complete with an error
// status and never crash.
#include <gtest/gtest.h>
#include <linux/virtio_blk.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "devices/disk.h"
#include "devices/virtio/blk.h"
#include "tests/support/virtq_builder.h"

namespace vmrun::devices::virtio {
namespace {

using test_support::DriverQueue;
constexpr uint64_t kMiB = 1ull << 20;
constexpr uint8_t kUnwritten = 0xee;

uint64_t bit(unsigned n) { return 1ull << n; }

// A disk in a vector that records what was asked of it. size() is the
// raw byte count (not rounded) so the device's own rounding is tested.
class MemoryDisk : public DiskBackend {
 public:
  explicit MemoryDisk(uint64_t bytes, bool read_only = false,
                      bool punch_holes = true)
      : data(bytes), read_only_(read_only), punch_holes_(punch_holes) {}

  uint64_t size() const override { return data.size(); }
  bool read_only() const override { return read_only_; }
  bool can_punch_holes() const override { return punch_holes_; }
  Result<void> read_at(uint64_t offset, std::span<uint8_t> out) override {
    VMRUN_TRY(check(offset, out.size()));
    std::copy_n(data.begin() + offset, out.size(), out.begin());
    return ok();
  }
  Result<void> write_at(uint64_t offset, std::span<const uint8_t> in) override {
    VMRUN_TRY(check(offset, in.size()));
    if (read_only_) return Error("read-only");
    std::copy(in.begin(), in.end(), data.begin() + offset);
    return ok();
  }
  Result<void> flush() override {
    ++flushes;
    return fail ? Result<void>(Error("flush: EIO")) : ok();
  }
  Result<void> discard(uint64_t offset, uint64_t len) override {
    VMRUN_TRY(check(offset, len));
    discards.push_back({offset, len});
    std::fill_n(data.begin() + offset, len, 0);
    return ok();
  }
  Result<void> write_zeroes(uint64_t offset, uint64_t len) override {
    VMRUN_TRY(check(offset, len));
    zeroes.push_back({offset, len});
    std::fill_n(data.begin() + offset, len, 0);
    return ok();
  }

  std::vector<uint8_t> data;
  int flushes = 0;
  bool fail = false;  // every call fails, as a dying host disk would
  std::vector<std::pair<uint64_t, uint64_t>> discards, zeroes;

 private:
  Result<void> check(uint64_t offset, uint64_t len) const {
    if (fail) return Error("I/O: EIO");
    if (offset > data.size() || len > data.size() - offset) {
      return Error("out of range");
    }
    return ok();
  }
  bool read_only_;
  bool punch_holes_;
};

struct Header {
  uint32_t type;
  uint32_t ioprio;
  uint64_t sector;
};

struct Segment {
  uint64_t sector;
  uint32_t num_sectors;
  uint32_t flags;
};

struct Request {
  uint8_t* data = nullptr;    // the IN data buffer, if any
  uint8_t* status = nullptr;  // the status byte
  uint16_t head = 0;
};

class VirtioBlkTest : public ::testing::Test {
 protected:
  VirtioBlkTest() { start(std::make_unique<MemoryDisk>(1 * kMiB)); }

  void start(std::unique_ptr<MemoryDisk> disk, std::string serial = "",
             bool event_idx = false) {
    disk_ = disk.get();
    for (size_t i = 0; i < disk_->data.size(); ++i) {
      disk_->data[i] = static_cast<uint8_t>(i * 7 + i / 512);
    }
    blk_ =
        std::make_unique<VirtioBlk>(std::move(disk), "blk0", std::move(serial));
    activate(blk_->device_features(), event_idx);
  }

  void activate(uint64_t features, bool event_idx = false) {
    driver_ = std::make_unique<DriverQueue>(*mem_, 16);
    auto q = Virtqueue::create(*mem_, driver_->config(), event_idx);
    ASSERT_TRUE(q.ok()) << q.error().message();
    std::vector<ActivatedQueue> queues;
    queues.push_back({std::move(q).value(), [this] { ++interrupts_; }});
    auto r = blk_->activate(*mem_, features, std::move(queues));
    ASSERT_TRUE(r.ok()) << r.error().message();
  }

  // Offers a request: header, `out` as readable data, `in_len` writable
  // data bytes and a status byte; does not process it.
  Request offer(uint32_t type, uint64_t sector,
                const std::vector<uint8_t>& out = {}, uint32_t in_len = 0) {
    Request req;
    auto chain = driver_->chain();
    chain.readable_obj(Header{type, 0, sector});
    if (!out.empty()) chain.readable(out);
    if (in_len > 0) chain.writable(in_len, &req.data);
    chain.writable(1, &req.status);
    *req.status = kUnwritten;
    req.head = chain.build();
    return req;
  }

  Request submit(uint32_t type, uint64_t sector,
                 const std::vector<uint8_t>& out = {}, uint32_t in_len = 0) {
    Request req = offer(type, sector, out, in_len);
    blk_->process_queue(0);
    return req;
  }

  uint8_t discard(uint32_t type, std::vector<Segment> segments) {
    std::vector<uint8_t> bytes(segments.size() * sizeof(Segment));
    std::memcpy(bytes.data(), segments.data(), bytes.size());
    return *submit(type, 0, bytes).status;
  }

  std::vector<uint8_t> disk_bytes(uint64_t offset, uint64_t len) const {
    return {disk_->data.begin() + offset, disk_->data.begin() + offset + len};
  }
  DriverQueue::Used last_used() const {
    return driver_->used(static_cast<uint16_t>(driver_->used_idx() - 1));
  }
  template <class T>
  T config(size_t offset) {
    T v;
    blk_->read_config(offset,
                      std::span(reinterpret_cast<uint8_t*>(&v), sizeof v));
    return v;
  }

  std::unique_ptr<GuestMemory> mem_ =
      GuestMemory::create({{0, 16 * kMiB}}).value();
  std::unique_ptr<DriverQueue> driver_;
  MemoryDisk* disk_ = nullptr;
  std::unique_ptr<VirtioBlk> blk_;
  int interrupts_ = 0;
};

// ---- features and config space ----

TEST_F(VirtioBlkTest, DeviceIdentity) {
  EXPECT_EQ(blk_->device_id(), 2);
  EXPECT_EQ(blk_->num_queues(), 1u);
  EXPECT_EQ(blk_->max_queue_size(), 256);
}

TEST_F(VirtioBlkTest, OffersFeatures) {
  const uint64_t f = blk_->device_features();
  for (uint64_t want :
       {kFVersion1, kFRingIndirectDesc, kFRingEventIdx, bit(VIRTIO_BLK_F_FLUSH),
        bit(VIRTIO_BLK_F_BLK_SIZE), bit(VIRTIO_BLK_F_SEG_MAX),
        bit(VIRTIO_BLK_F_DISCARD), bit(VIRTIO_BLK_F_WRITE_ZEROES)}) {
    EXPECT_TRUE(f & want) << std::hex << want;
  }
  EXPECT_FALSE(f & bit(VIRTIO_BLK_F_RO));
  EXPECT_FALSE(f & bit(VIRTIO_BLK_F_MQ));
}

TEST_F(VirtioBlkTest, ReadOnlyDiskOffersRoAndNoDiscard) {
  start(std::make_unique<MemoryDisk>(kMiB, /*read_only=*/true));
  const uint64_t f = blk_->device_features();
  EXPECT_TRUE(f & bit(VIRTIO_BLK_F_RO));
  EXPECT_FALSE(f & bit(VIRTIO_BLK_F_DISCARD));
  EXPECT_FALSE(f & bit(VIRTIO_BLK_F_WRITE_ZEROES));
}

TEST_F(VirtioBlkTest, NoHolesNoDiscard) {
  start(std::make_unique<MemoryDisk>(kMiB, false, /*punch_holes=*/false));
  const uint64_t f = blk_->device_features();
  EXPECT_FALSE(f & bit(VIRTIO_BLK_F_DISCARD));
  EXPECT_FALSE(f & bit(VIRTIO_BLK_F_WRITE_ZEROES));
}

TEST_F(VirtioBlkTest, ConfigSpace) {
  start(std::make_unique<MemoryDisk>(kMiB + 100));  // rounded down
  EXPECT_EQ(config<uint64_t>(offsetof(virtio_blk_config, capacity)), 2048u);
  EXPECT_EQ(config<uint32_t>(offsetof(virtio_blk_config, blk_size)), 512u);
  EXPECT_EQ(config<uint32_t>(offsetof(virtio_blk_config, seg_max)), 254u);
  EXPECT_EQ(config<uint32_t>(offsetof(virtio_blk_config, size_max)),
            VirtioBlk::kSizeMax);
  EXPECT_EQ(config<uint32_t>(offsetof(virtio_blk_config, max_discard_sectors)),
            VirtioBlk::kMaxDiscardSectors);
  EXPECT_EQ(config<uint32_t>(offsetof(virtio_blk_config, max_discard_seg)),
            VirtioBlk::kMaxDiscardSegments);
  EXPECT_EQ(
      config<uint32_t>(offsetof(virtio_blk_config, discard_sector_alignment)),
      8u);
  EXPECT_EQ(
      config<uint32_t>(offsetof(virtio_blk_config, max_write_zeroes_sectors)),
      VirtioBlk::kMaxDiscardSectors);
  EXPECT_EQ(config<uint32_t>(offsetof(virtio_blk_config, max_write_zeroes_seg)),
            VirtioBlk::kMaxDiscardSegments);
  EXPECT_EQ(
      config<uint8_t>(offsetof(virtio_blk_config, write_zeroes_may_unmap)), 1);
}

TEST_F(VirtioBlkTest, ConfigReadsAtAnyOffsetAndPastTheEnd) {
  start(std::make_unique<MemoryDisk>(0x1234 * 512));
  // Capacity 0x1234: byte by byte, and across the end of the structure.
  EXPECT_EQ(config<uint8_t>(0), 0x34);
  EXPECT_EQ(config<uint8_t>(1), 0x12);
  EXPECT_EQ(config<uint16_t>(2), 0);
  EXPECT_EQ(config<uint32_t>(sizeof(virtio_blk_config) - 2), 0u);
  EXPECT_EQ(config<uint64_t>(0x1000), 0u);
  EXPECT_EQ(config<uint8_t>(UINT64_MAX), 0);
  // Writes change nothing.
  const uint8_t junk[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  blk_->write_config(0, junk);
  EXPECT_EQ(config<uint8_t>(0), 0x34);
}

// ---- requests that succeed ----

TEST_F(VirtioBlkTest, ReadReturnsDiskData) {
  Request r = submit(VIRTIO_BLK_T_IN, 3, {}, 1024);
  EXPECT_EQ(*r.status, VIRTIO_BLK_S_OK);
  EXPECT_EQ(std::vector<uint8_t>(r.data, r.data + 1024),
            disk_bytes(3 * 512, 1024));
  EXPECT_EQ(driver_->used_idx(), 1);
  EXPECT_EQ(last_used().id, r.head);
  EXPECT_EQ(last_used().len, 1025u);
  EXPECT_EQ(interrupts_, 1);
}

TEST_F(VirtioBlkTest, ReadScattersOverManyBuffersAndIndirectTables) {
  uint8_t *a, *b, *c, *status;
  driver_->chain()
      .readable_obj(Header{VIRTIO_BLK_T_IN, 0, 10})
      .indirect()
      .writable(100, &a)
      .writable(412, &b)
      .writable(512, &c)
      .writable(1, &status)
      .build();
  blk_->process_queue(0);
  EXPECT_EQ(*status, VIRTIO_BLK_S_OK);
  std::vector<uint8_t> got(a, a + 100);
  got.insert(got.end(), b, b + 412);
  got.insert(got.end(), c, c + 512);
  EXPECT_EQ(got, disk_bytes(10 * 512, 1024));
}

TEST_F(VirtioBlkTest, StatusMayShareTheDataBuffer) {
  uint8_t* buf;
  driver_->chain()
      .readable_obj(Header{VIRTIO_BLK_T_IN, 0, 0})
      .writable(513, &buf)
      .build();
  blk_->process_queue(0);
  EXPECT_EQ(buf[512], VIRTIO_BLK_S_OK);
  EXPECT_EQ(std::vector<uint8_t>(buf, buf + 512), disk_bytes(0, 512));
}

TEST_F(VirtioBlkTest, HeaderMaySpanDescriptors) {
  Header h{VIRTIO_BLK_T_IN, 0, 1};
  const auto* p = reinterpret_cast<const uint8_t*>(&h);
  uint8_t *data, *status;
  driver_->chain()
      .readable(std::span(p, 5))
      .readable(std::span(p + 5, 11))
      .writable(512, &data)
      .writable(1, &status)
      .build();
  blk_->process_queue(0);
  EXPECT_EQ(*status, VIRTIO_BLK_S_OK);
  EXPECT_EQ(std::vector<uint8_t>(data, data + 512), disk_bytes(512, 512));
}

TEST_F(VirtioBlkTest, WriteStoresDataThenReadsBack) {
  std::vector<uint8_t> data(1024);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(~i);
  Request w = submit(VIRTIO_BLK_T_OUT, 5, data);
  EXPECT_EQ(*w.status, VIRTIO_BLK_S_OK);
  EXPECT_EQ(last_used().len, 1u);
  EXPECT_EQ(disk_bytes(5 * 512, 1024), data);
  Request r = submit(VIRTIO_BLK_T_IN, 5, {}, 1024);
  EXPECT_EQ(std::vector<uint8_t>(r.data, r.data + 1024), data);
}

TEST_F(VirtioBlkTest, LastSectorIsReachable) {
  Request r = submit(VIRTIO_BLK_T_IN, 2047, {}, 512);
  EXPECT_EQ(*r.status, VIRTIO_BLK_S_OK);
  Request w = submit(VIRTIO_BLK_T_OUT, 2047, std::vector<uint8_t>(512, 1));
  EXPECT_EQ(*w.status, VIRTIO_BLK_S_OK);
}

TEST_F(VirtioBlkTest, FlushFlushesTheBackend) {
  Request r = submit(VIRTIO_BLK_T_FLUSH, 0);
  EXPECT_EQ(*r.status, VIRTIO_BLK_S_OK);
  EXPECT_EQ(disk_->flushes, 1);
}

TEST_F(VirtioBlkTest, GetIdReturnsDefaultSerial) {
  Request r = submit(VIRTIO_BLK_T_GET_ID, 0, {}, VIRTIO_BLK_ID_BYTES);
  EXPECT_EQ(*r.status, VIRTIO_BLK_S_OK);
  std::string id(reinterpret_cast<char*>(r.data), VIRTIO_BLK_ID_BYTES);
  EXPECT_EQ(id, std::string("vmrun-blk0") + std::string(10, '\0'));
  EXPECT_EQ(last_used().len, 21u);
}

TEST_F(VirtioBlkTest, GetIdTruncatesLongSerialTo20Bytes) {
  start(std::make_unique<MemoryDisk>(kMiB), "0123456789abcdefghijKLMN");
  Request r = submit(VIRTIO_BLK_T_GET_ID, 0, {}, 32);
  EXPECT_EQ(*r.status, VIRTIO_BLK_S_OK);
  EXPECT_EQ(std::string(reinterpret_cast<char*>(r.data), 20),
            "0123456789abcdefghij");
  EXPECT_EQ(r.data[20], 0);  // nothing past the 20 bytes
}

TEST_F(VirtioBlkTest, DiscardZeroesAndReachesBackend) {
  EXPECT_EQ(discard(VIRTIO_BLK_T_DISCARD, {{8, 16, 0}, {100, 1, 0}}),
            VIRTIO_BLK_S_OK);
  ASSERT_EQ(disk_->discards.size(), 2u);
  EXPECT_EQ(disk_->discards[0],
            std::make_pair(uint64_t{8 * 512}, uint64_t{16 * 512}));
  EXPECT_EQ(disk_bytes(8 * 512, 16 * 512), std::vector<uint8_t>(16 * 512, 0));
  // The sector after the range is untouched.
  EXPECT_EQ(disk_->data[24 * 512], static_cast<uint8_t>(24 * 512 * 7 + 24));
}

TEST_F(VirtioBlkTest, WriteZeroesWithAndWithoutUnmap) {
  EXPECT_EQ(discard(VIRTIO_BLK_T_WRITE_ZEROES, {{1, 2, 0}}), VIRTIO_BLK_S_OK);
  ASSERT_EQ(disk_->zeroes.size(), 1u);
  EXPECT_EQ(disk_->zeroes[0], std::make_pair(uint64_t{512}, uint64_t{1024}));
  EXPECT_EQ(disk_bytes(512, 1024), std::vector<uint8_t>(1024, 0));

  EXPECT_EQ(discard(VIRTIO_BLK_T_WRITE_ZEROES,
                    {{10, 1, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP}}),
            VIRTIO_BLK_S_OK);
  ASSERT_EQ(disk_->discards.size(), 1u);  // unmap: holes, which read zero
  EXPECT_EQ(disk_bytes(10 * 512, 512), std::vector<uint8_t>(512, 0));
}

TEST_F(VirtioBlkTest, BatchRaisesOneInterrupt) {
  for (int i = 0; i < 3; ++i) offer(VIRTIO_BLK_T_IN, i, {}, 512);
  blk_->process_queue(0);
  EXPECT_EQ(driver_->used_idx(), 3);
  EXPECT_EQ(interrupts_, 1);
}

TEST_F(VirtioBlkTest, NoInterruptFlagIsHonoured) {
  driver_->set_avail_flags(1);
  submit(VIRTIO_BLK_T_IN, 0, {}, 512);
  EXPECT_EQ(driver_->used_idx(), 1);
  EXPECT_EQ(interrupts_, 0);
}

TEST_F(VirtioBlkTest, EventIdxSuppressesUntilUsedEvent) {
  start(std::make_unique<MemoryDisk>(kMiB), "", /*event_idx=*/true);
  driver_->set_used_event(1);  // interrupt once the second entry is used
  submit(VIRTIO_BLK_T_IN, 0, {}, 512);
  EXPECT_EQ(interrupts_, 0);
  submit(VIRTIO_BLK_T_IN, 0, {}, 512);
  EXPECT_EQ(interrupts_, 1);
  EXPECT_EQ(driver_->avail_event(), 2);  // and it asks to hear of the next
}

// ---- requests that fail ----

TEST_F(VirtioBlkTest, ReadPastCapacityIsIoErr) {
  EXPECT_EQ(*submit(VIRTIO_BLK_T_IN, 2048, {}, 512).status, VIRTIO_BLK_S_IOERR);
  EXPECT_EQ(*submit(VIRTIO_BLK_T_IN, 2047, {}, 1024).status,
            VIRTIO_BLK_S_IOERR);
  EXPECT_EQ(last_used().len, 1u);
}

TEST_F(VirtioBlkTest, SectorsThatOverflowAreIoErr) {
  for (uint64_t sector : std::initializer_list<uint64_t>{
           UINT64_MAX, UINT64_MAX / 512 + 1, 1ull << 55}) {
    EXPECT_EQ(*submit(VIRTIO_BLK_T_IN, sector, {}, 512).status,
              VIRTIO_BLK_S_IOERR)
        << sector;
    EXPECT_EQ(
        *submit(VIRTIO_BLK_T_OUT, sector, std::vector<uint8_t>(512)).status,
        VIRTIO_BLK_S_IOERR)
        << sector;
  }
}

TEST_F(VirtioBlkTest, WritePastCapacityChangesNothing) {
  const auto before = disk_->data;
  EXPECT_EQ(
      *submit(VIRTIO_BLK_T_OUT, 2047, std::vector<uint8_t>(1024, 1)).status,
      VIRTIO_BLK_S_IOERR);
  EXPECT_EQ(disk_->data, before);
}

TEST_F(VirtioBlkTest, PartialSectorIsIoErr) {
  EXPECT_EQ(*submit(VIRTIO_BLK_T_IN, 0, {}, 100).status, VIRTIO_BLK_S_IOERR);
  EXPECT_EQ(*submit(VIRTIO_BLK_T_OUT, 0, std::vector<uint8_t>(100)).status,
            VIRTIO_BLK_S_IOERR);
}

TEST_F(VirtioBlkTest, WriteToReadOnlyDiskIsIoErr) {
  start(std::make_unique<MemoryDisk>(kMiB, /*read_only=*/true));
  const auto before = disk_->data;
  EXPECT_EQ(*submit(VIRTIO_BLK_T_OUT, 0, std::vector<uint8_t>(512, 1)).status,
            VIRTIO_BLK_S_IOERR);
  EXPECT_EQ(disk_->data, before);
  EXPECT_EQ(*submit(VIRTIO_BLK_T_IN, 0, {}, 512).status, VIRTIO_BLK_S_OK);
}

TEST_F(VirtioBlkTest, DiscardOnReadOnlyDiskIsRefused) {
  start(std::make_unique<MemoryDisk>(kMiB, /*read_only=*/true));
  // Not offered on a read-only disk: a driver sending it anyway is told no.
  EXPECT_NE(discard(VIRTIO_BLK_T_DISCARD, {{0, 1, 0}}), VIRTIO_BLK_S_OK);
  EXPECT_NE(discard(VIRTIO_BLK_T_WRITE_ZEROES, {{0, 1, 0}}), VIRTIO_BLK_S_OK);
  EXPECT_TRUE(disk_->discards.empty());
  EXPECT_TRUE(disk_->zeroes.empty());
}

TEST_F(VirtioBlkTest, UnknownTypesAreUnsupp) {
  for (uint32_t type : std::initializer_list<uint32_t>{
           2u, 3u, 10u, VIRTIO_BLK_T_SECURE_ERASE, 0x80000000u, 0xffffffffu}) {
    EXPECT_EQ(*submit(type, 0, {}, 512).status, VIRTIO_BLK_S_UNSUPP) << type;
  }
}

TEST_F(VirtioBlkTest, DiscardNotNegotiatedIsUnsupp) {
  activate(blk_->device_features() & ~bit(VIRTIO_BLK_F_DISCARD));
  EXPECT_EQ(discard(VIRTIO_BLK_T_DISCARD, {{0, 1, 0}}), VIRTIO_BLK_S_UNSUPP);
  EXPECT_TRUE(disk_->discards.empty());
}

TEST_F(VirtioBlkTest, DiscardBounds) {
  const uint32_t max = VirtioBlk::kMaxDiscardSectors;
  EXPECT_EQ(discard(VIRTIO_BLK_T_DISCARD, {{2040, 8, 0}}), VIRTIO_BLK_S_OK);
  EXPECT_EQ(discard(VIRTIO_BLK_T_DISCARD, {{2040, 9, 0}}), VIRTIO_BLK_S_IOERR);
  EXPECT_EQ(discard(VIRTIO_BLK_T_DISCARD, {{UINT64_MAX, 1, 0}}),
            VIRTIO_BLK_S_IOERR);
  EXPECT_EQ(discard(VIRTIO_BLK_T_DISCARD, {{0, max + 1, 0}}),
            VIRTIO_BLK_S_IOERR);
  EXPECT_EQ(discard(VIRTIO_BLK_T_WRITE_ZEROES, {{2048, 1, 0}}),
            VIRTIO_BLK_S_IOERR);
  // One bad segment fails the request before anything is discarded.
  disk_->discards.clear();
  EXPECT_EQ(discard(VIRTIO_BLK_T_DISCARD, {{0, 1, 0}, {4096, 1, 0}}),
            VIRTIO_BLK_S_IOERR);
  EXPECT_TRUE(disk_->discards.empty());
}

TEST_F(VirtioBlkTest, DiscardFlagsAndSegmentCount) {
  EXPECT_EQ(discard(VIRTIO_BLK_T_DISCARD,
                    {{0, 1, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP}}),
            VIRTIO_BLK_S_UNSUPP);
  EXPECT_EQ(discard(VIRTIO_BLK_T_WRITE_ZEROES, {{0, 1, 2}}),
            VIRTIO_BLK_S_UNSUPP);
  std::vector<Segment> many(VirtioBlk::kMaxDiscardSegments + 1, {0, 1, 0});
  EXPECT_EQ(discard(VIRTIO_BLK_T_DISCARD, many), VIRTIO_BLK_S_UNSUPP);
  many.pop_back();
  EXPECT_EQ(discard(VIRTIO_BLK_T_DISCARD, many), VIRTIO_BLK_S_OK);
}

TEST_F(VirtioBlkTest, DiscardWithoutWholeSegmentsIsIoErr) {
  EXPECT_EQ(*submit(VIRTIO_BLK_T_DISCARD, 0).status, VIRTIO_BLK_S_IOERR);
  EXPECT_EQ(*submit(VIRTIO_BLK_T_DISCARD, 0, std::vector<uint8_t>(20)).status,
            VIRTIO_BLK_S_IOERR);
  EXPECT_TRUE(disk_->discards.empty());
}

TEST_F(VirtioBlkTest, HostErrorsAreIoErr) {
  disk_->fail = true;
  EXPECT_EQ(*submit(VIRTIO_BLK_T_IN, 0, {}, 512).status, VIRTIO_BLK_S_IOERR);
  EXPECT_EQ(*submit(VIRTIO_BLK_T_OUT, 0, std::vector<uint8_t>(512)).status,
            VIRTIO_BLK_S_IOERR);
  EXPECT_EQ(*submit(VIRTIO_BLK_T_FLUSH, 0).status, VIRTIO_BLK_S_IOERR);
  EXPECT_EQ(discard(VIRTIO_BLK_T_DISCARD, {{0, 1, 0}}), VIRTIO_BLK_S_IOERR);
}

// ---- malformed requests ----

TEST_F(VirtioBlkTest, ShortHeaderIsIoErr) {
  uint8_t* status;
  driver_->chain().readable(std::string(8, '\0')).writable(1, &status).build();
  *status = kUnwritten;
  blk_->process_queue(0);
  EXPECT_EQ(*status, VIRTIO_BLK_S_IOERR);
}

TEST_F(VirtioBlkTest, NoHeaderAtAllIsIoErr) {
  uint8_t* status;
  driver_->chain().writable(1, &status).build();
  *status = kUnwritten;
  blk_->process_queue(0);
  EXPECT_EQ(*status, VIRTIO_BLK_S_IOERR);
  EXPECT_EQ(driver_->used_idx(), 1);
}

TEST_F(VirtioBlkTest, MissingStatusByteCompletesWithNothingWritten) {
  driver_->chain().readable_obj(Header{VIRTIO_BLK_T_IN, 0, 0}).build();
  blk_->process_queue(0);
  EXPECT_EQ(driver_->used_idx(), 1);
  EXPECT_EQ(last_used().len, 0u);
  // The queue still works.
  EXPECT_EQ(*submit(VIRTIO_BLK_T_IN, 0, {}, 512).status, VIRTIO_BLK_S_OK);
}

TEST_F(VirtioBlkTest, DataInTheWrongDirectionIsIoErr) {
  // A read with readable data after the header.
  Request r = submit(VIRTIO_BLK_T_IN, 0, std::vector<uint8_t>(512), 512);
  EXPECT_EQ(*r.status, VIRTIO_BLK_S_IOERR);
  // A write with writable data before the status byte.
  const auto before = disk_->data;
  Request w = submit(VIRTIO_BLK_T_OUT, 0, std::vector<uint8_t>(512, 1), 512);
  EXPECT_EQ(*w.status, VIRTIO_BLK_S_IOERR);
  EXPECT_EQ(disk_->data, before);
}

TEST_F(VirtioBlkTest, MalformedRingStopsTheQueueUntilReset) {
  driver_->set_desc(0, driver_->alloc(16), 16, DriverQueue::kFNext, 0);
  driver_->publish(0);  // a loop
  blk_->process_queue(0);
  EXPECT_EQ(driver_->used_idx(), 0);
  // Further requests are left alone, not processed from a broken ring.
  offer(VIRTIO_BLK_T_IN, 0, {}, 512);
  blk_->process_queue(0);
  EXPECT_EQ(driver_->used_idx(), 0);
  // A reset and a fresh activation bring it back.
  blk_->reset();
  activate(blk_->device_features());
  EXPECT_EQ(*submit(VIRTIO_BLK_T_IN, 0, {}, 512).status, VIRTIO_BLK_S_OK);
}

TEST_F(VirtioBlkTest, NothingHappensWhenNotActive) {
  blk_->reset();
  Request r = offer(VIRTIO_BLK_T_IN, 0, {}, 512);
  blk_->process_queue(0);
  blk_->process_queue(1);
  EXPECT_EQ(*r.status, kUnwritten);
  EXPECT_EQ(interrupts_, 0);
}

TEST_F(VirtioBlkTest, ActivateWantsOneQueue) {
  EXPECT_FALSE(blk_->activate(*mem_, blk_->device_features(), {}).ok());
}

}  // namespace
}  // namespace vmrun::devices::virtio
