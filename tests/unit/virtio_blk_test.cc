// virtio-blk requests as a driver sends them (tests/support/virtq_builder.h)
// against an in-memory disk: the features and config space, and every
// request type's status and data when it succeeds. Requests that fail or
// are malformed are in virtio_blk_errors_test.cc.
#include <gtest/gtest.h>
#include <linux/virtio_blk.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "devices/virtio/blk.h"
#include "tests/unit/virtio_blk_fixture.h"

namespace vmrun::devices::virtio {
namespace {

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

}  // namespace
}  // namespace vmrun::devices::virtio
