// The split virtqueue against a driver-side fake (tests/support/
// virtq_builder.h): chains direct and indirect, notification suppression,
// and a hostile driver, whose every trick must end in an Error, never in a
// host access outside guest memory.
#include "devices/virtio/virtqueue.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "tests/support/virtq_builder.h"
#include "vmm/guest_memory.h"

namespace vmrun::devices::virtio {
namespace {

using test_support::DriverQueue;
constexpr uint64_t kMiB = 1ull << 20;
constexpr uint16_t kNext = DriverQueue::kFNext, kWrite = DriverQueue::kFWrite,
                   kIndirect = DriverQueue::kFIndirect;

std::unique_ptr<GuestMemory> make_memory(uint64_t size = 16 * kMiB) {
  auto mem = GuestMemory::create({{0, size}});
  if (!mem.ok()) throw std::runtime_error(mem.error().message());
  return std::move(mem).value();
}

class VirtqueueTest : public ::testing::Test {
 protected:
  Virtqueue make(bool event_idx = false) {
    auto q = Virtqueue::create(*mem_, driver_.config(), event_idx);
    if (!q.ok()) throw std::runtime_error(q.error().message());
    return std::move(q).value();
  }
  // Pops one chain, which must be there and well-formed.
  DescriptorChain pop_ok(Virtqueue& q) {
    auto r = q.pop();
    if (!r.ok()) throw std::runtime_error(r.error().message());
    if (!r.value()) throw std::runtime_error("queue empty");
    return *std::move(r).value();
  }
  // Pops expecting an error whose message contains `what`.
  void expect_pop_error(Virtqueue& q, const std::string& what) {
    auto r = q.pop();
    ASSERT_FALSE(r.ok()) << "expected an error about " << what;
    EXPECT_NE(r.error().message().find(what), std::string::npos)
        << r.error().message();
  }
  std::string read_all(const DescriptorChain& c) {
    std::string s(c.readable_bytes(), '\0');
    c.read(*mem_, 0, std::span(reinterpret_cast<uint8_t*>(s.data()), s.size()));
    return s;
  }

  std::unique_ptr<GuestMemory> mem_ = make_memory();
  DriverQueue driver_{*mem_, 16};
};

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

// ---- notifications ----

TEST_F(VirtqueueTest, NotifiesOnlyAfterSomethingWasUsed) {
  auto q = make();
  EXPECT_FALSE(q.should_notify());
  driver_.chain().readable("a").build();
  auto c = pop_ok(q);
  EXPECT_FALSE(q.should_notify());
  ASSERT_TRUE(q.push_used(c.head(), 0).ok());
  EXPECT_TRUE(q.should_notify());
  EXPECT_FALSE(q.should_notify());  // nothing new since
}

TEST_F(VirtqueueTest, NoInterruptFlagSuppresses) {
  auto q = make();
  driver_.set_avail_flags(1);  // VIRTQ_AVAIL_F_NO_INTERRUPT
  driver_.chain().readable("a").build();
  ASSERT_TRUE(q.push_used(pop_ok(q).head(), 0).ok());
  EXPECT_FALSE(q.should_notify());
  driver_.set_avail_flags(0);
  driver_.chain().readable("b").build();
  ASSERT_TRUE(q.push_used(pop_ok(q).head(), 0).ok());
  EXPECT_TRUE(q.should_notify());
}

TEST_F(VirtqueueTest, EventIdxHonoursUsedEvent) {
  auto q = make(true);
  // The driver wants an interrupt once used idx passes 2 (entry index 2).
  driver_.set_used_event(2);
  for (int i = 0; i < 4; ++i) driver_.chain().readable("r").build();
  ASSERT_TRUE(q.push_used(pop_ok(q).head(), 0).ok());  // used idx 1
  EXPECT_FALSE(q.should_notify());
  ASSERT_TRUE(q.push_used(pop_ok(q).head(), 0).ok());  // 2
  EXPECT_FALSE(q.should_notify());
  ASSERT_TRUE(q.push_used(pop_ok(q).head(), 0).ok());  // 3: passed entry 2
  EXPECT_TRUE(q.should_notify());
  ASSERT_TRUE(q.push_used(pop_ok(q).head(), 0).ok());  // 4: event still 2
  EXPECT_FALSE(q.should_notify());
}

TEST_F(VirtqueueTest, EventIdxCountsABatchAsOne) {
  auto q = make(true);
  driver_.set_used_event(1);
  for (int i = 0; i < 3; ++i) driver_.chain().readable("r").build();
  for (int i = 0; i < 3; ++i)
    ASSERT_TRUE(q.push_used(pop_ok(q).head(), 0).ok());
  EXPECT_TRUE(q.should_notify());  // 0 -> 3 crossed entry 1
}

TEST_F(VirtqueueTest, EventIdxIgnoresNoInterruptFlag) {
  auto q = make(true);
  driver_.set_avail_flags(1);
  driver_.set_used_event(0);
  driver_.chain().readable("r").build();
  ASSERT_TRUE(q.push_used(pop_ok(q).head(), 0).ok());
  EXPECT_TRUE(q.should_notify());
}

// While the device takes buffers the driver need not notify it (each
// notification is an exit); finding the ring empty asks for the next one.
TEST_F(VirtqueueTest, EventIdxAsksForANotificationOnlyWhenEmpty) {
  auto q = make(true);
  driver_.set_avail_idx(0);
  for (int i = 0; i < 3; ++i) driver_.chain().readable("r").build();
  pop_ok(q);
  pop_ok(q);
  EXPECT_EQ(driver_.avail_event(), 0) << "busy: no notification wanted";
  pop_ok(q);
  EXPECT_FALSE(q.pop().value().has_value());
  EXPECT_EQ(driver_.avail_event(), 3) << "empty: notify when buffer 3 comes";
  driver_.chain().readable("r").build();
  pop_ok(q);
  EXPECT_EQ(driver_.avail_event(), 3);
}

TEST_F(VirtqueueTest, WithoutEventIdxAvailEventIsLeftAlone) {
  auto q = make(false);
  driver_.chain().readable("r").build();
  pop_ok(q);
  EXPECT_FALSE(q.pop().value().has_value());
  EXPECT_EQ(driver_.avail_event(), 0);
}

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

// A driver thread and a device thread with EVENT_IDX, the driver kicking
// only when avail_event asks for it (Linux's rule): a lost wakeup would
// leave the device waiting with buffers on the ring.
TEST(VirtqueueThreadTest, NoLostNotificationsWithEventIdx) {
  auto mem = make_memory();
  DriverQueue d(*mem, 64);
  auto q = Virtqueue::create(*mem, d.config(), true).value();
  const uint64_t buf = d.alloc(8);
  for (uint16_t i = 0; i < 64; ++i) d.set_desc(i, buf, 8, kWrite);
  constexpr uint32_t kChains = 100000;

  std::mutex mu;
  std::condition_variable cv;
  uint64_t kicks = 0;
  std::atomic<bool> stuck{false};
  std::thread device([&] {
    uint32_t done = 0;
    uint64_t seen_kicks = 0;
    while (done < kChains) {
      {
        std::unique_lock lock(mu);
        if (!cv.wait_for(lock, std::chrono::seconds(10),
                         [&] { return kicks != seen_kicks; })) {
          stuck = true;
          return;
        }
        seen_kicks = kicks;
      }
      for (;;) {
        auto c = q.pop();
        ASSERT_TRUE(c.ok()) << c.error().message();
        if (!c.value()) break;
        ASSERT_TRUE(q.push_used(c.value()->head(), 0).ok());
        ++done;
      }
    }
  });

  for (uint32_t i = 0; i < kChains; ++i) {
    // Wait for a free slot (the device recycles them in order).
    while (static_cast<uint16_t>(d.avail_idx() - d.used_idx()) >= 64) {
      if (stuck) break;
      std::this_thread::yield();
    }
    if (stuck) break;
    const uint16_t old_idx = d.avail_idx();
    d.publish(static_cast<uint16_t>(i % 64));
    std::atomic_thread_fence(std::memory_order_seq_cst);
    const uint16_t new_idx = d.avail_idx();
    const uint16_t event = d.avail_event();
    if (static_cast<uint16_t>(new_idx - event - 1) <
        static_cast<uint16_t>(new_idx - old_idx)) {
      std::lock_guard lock(mu);
      ++kicks;
      cv.notify_one();
    }
  }
  device.join();
  EXPECT_FALSE(stuck) << "the device missed a notification";
  EXPECT_EQ(d.used_idx(), static_cast<uint16_t>(kChains));
}

}  // namespace
}  // namespace vmrun::devices::virtio
