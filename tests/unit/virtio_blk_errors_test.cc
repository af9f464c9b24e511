// virtio-blk requests that fail (past the capacity, read-only, unsupported,
// host errors) or are malformed (short or missing header and status, data
// in the wrong direction, a broken ring), sent as a driver sends them
// (tests/support/virtq_builder.h) to an in-memory disk: each must complete
// with an error status and never crash.
#include <gtest/gtest.h>
#include <linux/virtio_blk.h>

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "devices/virtio/blk.h"
#include "tests/unit/virtio_blk_fixture.h"

namespace vmrun::devices::virtio {
namespace {

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
