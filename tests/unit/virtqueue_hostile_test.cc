// The split virtqueue against a hostile driver (tests/support/
// virtq_builder.h): loops, indexes past the table, nested or malformed
// indirect tables, buffers outside guest memory, too long chains. Every
// trick must end in an Error, never in a host access outside guest memory.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "devices/virtio/virtqueue.h"
#include "tests/unit/virtqueue_fixture.h"

namespace vmrun::devices::virtio {
namespace {

// ---- a hostile driver ----

TEST_F(VirtqueueTest, DescriptorLoopIsError) {
  auto q = make();
  uint64_t buf = driver_.alloc(8);
  driver_.set_desc(0, buf, 8, kNext, 1);
  driver_.set_desc(1, buf, 8, kNext, 0);
  driver_.publish(0);
  expect_pop_error(q, "loops");
}

TEST_F(VirtqueueTest, DescriptorPointingAtItselfIsError) {
  auto q = make();
  driver_.set_desc(3, driver_.alloc(8), 8, kNext, 3);
  driver_.publish(3);
  expect_pop_error(q, "loops");
}

TEST_F(VirtqueueTest, LoopInsideIndirectTableIsError) {
  auto q = make();
  uint64_t table = driver_.alloc(48);
  uint64_t buf = driver_.alloc(8);
  driver_.write_desc(table, 0, buf, 8, kNext, 1);
  driver_.write_desc(table, 1, buf, 8, kNext, 2);
  driver_.write_desc(table, 2, buf, 8, kNext, 0);
  driver_.set_desc(0, table, 48, kIndirect);
  driver_.publish(0);
  expect_pop_error(q, "loops");
}

TEST_F(VirtqueueTest, NextPastTableIsError) {
  auto q = make();
  driver_.set_desc(0, driver_.alloc(8), 8, kNext, 16);
  driver_.publish(0);
  expect_pop_error(q, "past the table");
}

TEST_F(VirtqueueTest, IndirectNextPastTableIsError) {
  auto q = make();
  uint64_t table = driver_.alloc(32);
  driver_.write_desc(table, 0, driver_.alloc(8), 8, kNext, 2);
  driver_.set_desc(0, table, 32, kIndirect);
  driver_.publish(0);
  expect_pop_error(q, "past the table");
}

TEST_F(VirtqueueTest, HeadPastTableIsError) {
  auto q = make();
  driver_.publish(16);
  expect_pop_error(q, "descriptor 16");
}

TEST_F(VirtqueueTest, NestedIndirectIsError) {
  auto q = make();
  uint64_t inner = driver_.alloc(16);
  driver_.write_desc(inner, 0, driver_.alloc(8), 8, 0, 0);
  uint64_t table = driver_.alloc(16);
  driver_.write_desc(table, 0, inner, 16, kIndirect, 0);
  driver_.set_desc(0, table, 16, kIndirect);
  driver_.publish(0);
  expect_pop_error(q, "indirect table holds an indirect");
}

TEST_F(VirtqueueTest, IndirectTableLengthNotMultipleOf16IsError) {
  auto q = make();
  uint64_t table = driver_.alloc(32);
  driver_.write_desc(table, 0, driver_.alloc(8), 8, 0, 0);
  driver_.set_desc(0, table, 24, kIndirect);
  driver_.publish(0);
  expect_pop_error(q, "whole number of descriptors");
}

TEST_F(VirtqueueTest, EmptyIndirectTableIsError) {
  auto q = make();
  driver_.set_desc(0, driver_.alloc(16), 0, kIndirect);
  driver_.publish(0);
  expect_pop_error(q, "whole number of descriptors");
}

TEST_F(VirtqueueTest, IndirectWithNextIsError) {
  auto q = make();
  uint64_t table = driver_.alloc(16);
  driver_.write_desc(table, 0, driver_.alloc(8), 8, 0, 0);
  driver_.set_desc(0, table, 16, kIndirect | kNext, 1);
  driver_.set_desc(1, driver_.alloc(1), 1, kWrite);
  driver_.publish(0);
  expect_pop_error(q, "INDIRECT and NEXT");
}

TEST_F(VirtqueueTest, IndirectTableOutsideMemoryIsError) {
  auto q = make();
  driver_.set_desc(0, 16 * kMiB - 16, 32, kIndirect);
  driver_.publish(0);
  expect_pop_error(q, "indirect table");
}

TEST_F(VirtqueueTest, BufferOutsideMemoryIsError) {
  auto q = make();
  driver_.chain().readable("ok").raw(16 * kMiB - 4, 8, kWrite).build();
  expect_pop_error(q, "outside guest memory");
  // Entirely outside, too.
  auto q2 = Virtqueue::create(*mem_, driver_.config(), false).value();
  driver_.set_avail_idx(0);
  driver_.chain().raw(1ull << 40, 8).build();
  expect_pop_error(q2, "outside guest memory");
}

TEST_F(VirtqueueTest, BufferWrappingPast2To64IsError) {
  auto q = make();
  driver_.chain().raw(UINT64_MAX - 7, 4096, kWrite).build();
  expect_pop_error(q, "outside guest memory");
}

TEST_F(VirtqueueTest, BufferInIndirectTableOutsideMemoryIsError) {
  auto q = make();
  driver_.chain().indirect().readable("x").raw(UINT64_MAX - 1, 2).build();
  expect_pop_error(q, "outside guest memory");
}

TEST_F(VirtqueueTest, TooManyDescriptorsIsError) {
  auto q = make();
  const uint32_t n = Virtqueue::kMaxChainDescriptors + 1;
  uint64_t table = driver_.alloc(16ull * n);
  uint64_t buf = driver_.alloc(1);
  for (uint32_t i = 0; i < n; ++i) {
    driver_.write_desc(table, i, buf, 1, i + 1 < n ? kNext : 0,
                       static_cast<uint16_t>(i + 1));
  }
  driver_.set_desc(0, table, 16 * n, kIndirect);
  driver_.publish(0);
  expect_pop_error(q, "descriptors");
}

TEST(VirtqueueHugeTest, TooManyBytesIsError) {
  // 1 GiB of address space, never touched: five descriptors over all of it
  // add up to more than the 4 GiB limit.
  const uint32_t size = 1u << 30;
  auto mem = make_memory(size);
  DriverQueue d(*mem, 8);
  auto q = Virtqueue::create(*mem, d.config(), false).value();
  for (uint16_t i = 0; i < 5; ++i) {
    d.set_desc(i, 0, size, i < 4 ? kNext : 0, static_cast<uint16_t>(i + 1));
  }
  d.publish(0);
  auto r = q.pop();
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("bytes"), std::string::npos)
      << r.error().message();
}

TEST_F(VirtqueueTest, ReadableAfterWritableIsError) {
  auto q = make();
  driver_.chain().writable(4).readable("late").build();
  expect_pop_error(q, "readable descriptor after a writable");
}

TEST_F(VirtqueueTest, ReadableAfterWritableInIndirectTableIsError) {
  auto q = make();
  driver_.chain().writable(4).indirect().readable("late").build();
  expect_pop_error(q, "readable descriptor after a writable");
}

TEST_F(VirtqueueTest, AvailIndexTooFarAheadIsError) {
  auto q = make();
  driver_.set_desc(0, driver_.alloc(1), 1, 0);
  driver_.set_avail_idx(17);  // 17 offered in a queue of 16
  expect_pop_error(q, "ahead");
}

TEST_F(VirtqueueTest, AvailIndexExactlyAFullQueueIsFine) {
  auto q = make();
  for (int i = 0; i < 16; ++i) driver_.chain().readable("x").build();
  for (int i = 0; i < 16; ++i) pop_ok(q);
  EXPECT_FALSE(q.pop().value().has_value());
}

TEST_F(VirtqueueTest, PushUsedRejectsHeadPastTable) {
  auto q = make();
  EXPECT_FALSE(q.push_used(16, 0).ok());
  EXPECT_EQ(driver_.used_idx(), 0);
}

TEST_F(VirtqueueTest, ChangingADescriptorAfterPopChangesNothing) {
  auto q = make();
  uint16_t head = driver_.chain().readable("abcd").build();
  auto c = pop_ok(q);
  // The driver rewrites the descriptor to point outside memory: the chain
  // keeps the buffer that was checked.
  driver_.set_desc(head, UINT64_MAX - 1, 4096, 0);
  EXPECT_EQ(read_all(c), "abcd");
}

}  // namespace
}  // namespace vmrun::devices::virtio
