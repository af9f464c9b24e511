// The split virtqueue against a driver-side fake (tests/support/
// virtq_builder.h): creation, and well-formed chains direct and indirect.
// Notification suppression is in virtqueue_notify_test.cc, a hostile
// driver in virtqueue_hostile_test.cc.
#include "devices/virtio/virtqueue.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <span>
#include <string>

#include "tests/unit/virtqueue_fixture.h"

namespace vmrun::devices::virtio {
namespace {

// ---- creation ----

TEST_F(VirtqueueTest, CreateAcceptsPowersOfTwo) {
  for (uint16_t size : {1, 2, 256, 32768}) {
    DriverQueue d(*mem_, size);
    EXPECT_TRUE(Virtqueue::create(*mem_, d.config(), false).ok()) << size;
  }
}

TEST_F(VirtqueueTest, CreateRejectsSizeNotPowerOfTwo) {
  for (uint16_t size : {0, 3, 100, 65535}) {
    QueueConfig c = driver_.config();
    c.size = size;
    auto q = Virtqueue::create(*mem_, c, false);
    ASSERT_FALSE(q.ok()) << size;
    EXPECT_NE(q.error().message().find("power of two"), std::string::npos);
  }
}

TEST_F(VirtqueueTest, CreateRejectsRingsOutsideGuestMemory) {
  const QueueConfig good = driver_.config();
  QueueConfig c = good;
  c.desc = 16 * kMiB - 16 * 8;  // half the table past the end
  EXPECT_FALSE(Virtqueue::create(*mem_, c, false).ok());
  c = good;
  c.avail = UINT64_MAX - 1;  // wraps
  EXPECT_FALSE(Virtqueue::create(*mem_, c, false).ok());
  c = good;
  c.used = 32 * kMiB;
  EXPECT_FALSE(Virtqueue::create(*mem_, c, false).ok());
  // The used ring's last field (avail_event) must fit too.
  c = good;
  c.used = 16 * kMiB - (4 + 8 * 16);
  EXPECT_FALSE(Virtqueue::create(*mem_, c, false).ok());
}

TEST_F(VirtqueueTest, CreateRejectsMisalignedRings) {
  const QueueConfig good = driver_.config();
  QueueConfig c = good;
  c.desc += 8;
  EXPECT_FALSE(Virtqueue::create(*mem_, c, false).ok());
  c = good;
  c.avail += 1;
  EXPECT_FALSE(Virtqueue::create(*mem_, c, false).ok());
  c = good;
  c.used += 2;
  auto q = Virtqueue::create(*mem_, c, false);
  ASSERT_FALSE(q.ok());
  EXPECT_NE(q.error().message().find("aligned"), std::string::npos);
}

// ---- well-formed chains ----

TEST_F(VirtqueueTest, EmptyQueuePopsNothing) {
  auto q = make();
  auto r = q.pop();
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r.value().has_value());
}

TEST_F(VirtqueueTest, PopsReadableThenWritableBuffers) {
  auto q = make();
  uint8_t* out;
  uint16_t head = driver_.chain().readable("hello").writable(8, &out).build();
  auto c = pop_ok(q);
  EXPECT_EQ(c.head(), head);
  ASSERT_EQ(c.readable().size(), 1u);
  ASSERT_EQ(c.writable().size(), 1u);
  EXPECT_EQ(c.readable_bytes(), 5u);
  EXPECT_EQ(c.writable_bytes(), 8u);
  EXPECT_EQ(read_all(c), "hello");

  const uint8_t data[] = {1, 2, 3};
  EXPECT_EQ(c.write(*mem_, 2, data), 3u);
  EXPECT_EQ(out[2], 1);
  EXPECT_EQ(out[4], 3);
  ASSERT_TRUE(q.push_used(c.head(), 5).ok());
  EXPECT_EQ(driver_.used_idx(), 1);
  EXPECT_EQ(driver_.used(0).id, head);
  EXPECT_EQ(driver_.used(0).len, 5u);
  EXPECT_FALSE(q.pop().value().has_value());
}

TEST_F(VirtqueueTest, ReadAndWriteSpanBufferBoundaries) {
  auto q = make();
  uint8_t *w1, *w2;
  driver_.chain()
      .readable("abc")
      .readable("defg")
      .writable(2, &w1)
      .writable(4, &w2)
      .build();
  auto c = pop_ok(q);
  uint8_t buf[4] = {};
  EXPECT_EQ(c.read(*mem_, 2, buf), 4u);
  EXPECT_EQ(std::string(reinterpret_cast<char*>(buf), 4), "cdef");
  EXPECT_EQ(c.read(*mem_, 5, buf), 2u);  // short: only "fg" is left
  EXPECT_EQ(c.read(*mem_, 99, buf), 0u);

  const uint8_t in[] = {9, 8, 7, 6, 5, 4, 3};
  EXPECT_EQ(c.write(*mem_, 1, in), 5u);  // 6 writable bytes, from offset 1
  EXPECT_EQ(w1[0], 0);
  EXPECT_EQ(w1[1], 9);
  EXPECT_EQ(w2[0], 8);
  EXPECT_EQ(w2[3], 5);
}

TEST_F(VirtqueueTest, ChainsComeInOfferOrder) {
  auto q = make();
  uint16_t a = driver_.chain().readable("a").build();
  uint16_t b = driver_.chain().readable("bb").build();
  EXPECT_EQ(pop_ok(q).head(), a);
  auto c = pop_ok(q);
  EXPECT_EQ(c.head(), b);
  EXPECT_EQ(read_all(c), "bb");
}

TEST_F(VirtqueueTest, IndexesWrapAround) {
  DriverQueue d(*mem_, 4);
  auto q = Virtqueue::create(*mem_, d.config(), true).value();
  uint64_t buf = d.alloc(4);
  d.set_desc(0, buf, 4, kWrite);
  for (uint32_t i = 0; i < 70000; ++i) {
    d.publish(0);
    auto c = pop_ok(q);
    ASSERT_EQ(c.writable_bytes(), 4u);
    ASSERT_TRUE(q.push_used(0, i % 5).ok());
  }
  EXPECT_EQ(d.used_idx(), static_cast<uint16_t>(70000));
  EXPECT_EQ(d.used(static_cast<uint16_t>(69999)).len, 69999u % 5);
  EXPECT_FALSE(q.pop().value().has_value());
}

TEST_F(VirtqueueTest, IndirectChain) {
  auto q = make();
  uint8_t* out;
  uint16_t head = driver_.chain()
                      .indirect()
                      .readable("head")
                      .readable("er")
                      .writable(3, &out)
                      .build();
  auto c = pop_ok(q);
  EXPECT_EQ(c.head(), head);
  EXPECT_EQ(c.readable().size(), 2u);
  EXPECT_EQ(read_all(c), "header");
  ASSERT_EQ(c.writable_bytes(), 3u);
  const uint8_t x = 0x5a;
  c.write(*mem_, 2, std::span(&x, 1));
  EXPECT_EQ(out[2], 0x5a);
}

TEST_F(VirtqueueTest, DirectDescriptorsThenIndirectTable) {
  auto q = make();
  driver_.chain().readable("hdr").indirect().readable("+").writable(1).build();
  auto c = pop_ok(q);
  EXPECT_EQ(read_all(c), "hdr+");
  EXPECT_EQ(c.writable_bytes(), 1u);
}

TEST_F(VirtqueueTest, WriteFlagOfIndirectDescriptorIsIgnored) {
  auto q = make();
  uint64_t table = driver_.alloc(16);
  uint64_t buf = driver_.alloc(4);
  driver_.write_desc(table, 0, buf, 4, 0, 0);
  driver_.set_desc(0, table, 16, kIndirect | kWrite);
  driver_.publish(0);
  auto c = pop_ok(q);
  EXPECT_EQ(c.readable_bytes(), 4u);
  EXPECT_EQ(c.writable_bytes(), 0u);
}

TEST_F(VirtqueueTest, ZeroLengthDescriptorsAreDropped) {
  auto q = make();
  // Its address is wild, but nothing is ever accessed through it.
  driver_.chain().readable("x").raw(UINT64_MAX, 0, kWrite).writable(1).build();
  auto c = pop_ok(q);
  EXPECT_EQ(c.readable().size(), 1u);
  EXPECT_EQ(c.writable().size(), 1u);
}

}  // namespace
}  // namespace vmrun::devices::virtio
