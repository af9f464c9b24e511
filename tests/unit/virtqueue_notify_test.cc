// The split virtqueue's notification suppression, against a driver-side
// fake (tests/support/virtq_builder.h): when the device interrupts the
// driver (NO_INTERRUPT, used_event) and when it asks to be notified
// (avail_event), down to a driver and a device on two threads that must
// never lose a wakeup.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

#include "devices/virtio/virtqueue.h"
#include "tests/unit/virtqueue_fixture.h"

namespace vmrun::devices::virtio {
namespace {

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
