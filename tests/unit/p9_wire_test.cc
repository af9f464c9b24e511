// The 9P codec (devices/p9/wire.h): the Reader never reads past its buffer
// and fails sticky on any short field; the Writer lays out little-endian
// fields and a correct size; Rlerror's layout.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "devices/p9/wire.h"

namespace vmrun::devices::p9 {
namespace {

// `n` bytes of message followed by guard bytes the reader must never see:
// the span handed to the Reader covers only the first `n`.
struct Guarded {
  explicit Guarded(std::vector<uint8_t> bytes)
      : buf(std::move(bytes)), n(buf.size()) {
    buf.insert(buf.end(), 16, 0xee);
  }
  std::span<const uint8_t> span() const { return std::span(buf).first(n); }
  std::vector<uint8_t> buf;
  size_t n;
};

TEST(P9WireReader, ReadsLittleEndianFields) {
  Guarded g({0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b,
             0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15});
  Reader r(g.span());
  EXPECT_EQ(r.u8(), 0x01);
  EXPECT_EQ(r.u16(), 0x0302);
  EXPECT_EQ(r.u32(), 0x07060504u);
  EXPECT_EQ(r.u64(), 0x0f0e0d0c0b0a0908ull);
  EXPECT_EQ(r.remaining(), 6u);
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.bytes(6).size(), 6u);
  EXPECT_EQ(r.remaining(), 0u);
  EXPECT_TRUE(r.ok());
}

TEST(P9WireReader, HighBitsSurvive) {
  Guarded g(std::vector<uint8_t>(8, 0xff));
  Reader r(g.span());
  EXPECT_EQ(r.u64(), UINT64_MAX);
  EXPECT_TRUE(r.ok());
}

// Each width, one byte short: 0, !ok(), nothing consumed, guard unread.
TEST(P9WireReader, ShortIntegersFailWithoutReadingPast) {
  for (size_t width : {1u, 2u, 4u, 8u}) {
    for (size_t have = 0; have < width; ++have) {
      Guarded g(std::vector<uint8_t>(have, 0x11));
      Reader r(g.span());
      uint64_t v = 1;
      switch (width) {
        case 1:
          v = r.u8();
          break;
        case 2:
          v = r.u16();
          break;
        case 4:
          v = r.u32();
          break;
        default:
          v = r.u64();
          break;
      }
      EXPECT_EQ(v, 0u) << "width " << width << " have " << have;
      EXPECT_FALSE(r.ok()) << "width " << width << " have " << have;
      EXPECT_EQ(r.remaining(), have);
    }
  }
}

TEST(P9WireReader, FailureIsSticky) {
  Guarded g({0xaa, 0xbb, 0xcc});
  Reader r(g.span());
  EXPECT_EQ(r.u32(), 0u);
  ASSERT_FALSE(r.ok());
  // Enough bytes remain for these, but a failed reader yields nothing more.
  EXPECT_EQ(r.u8(), 0u);
  EXPECT_EQ(r.u16(), 0u);
  EXPECT_TRUE(r.bytes(1).empty());
  EXPECT_EQ(r.str(), "");
  EXPECT_FALSE(r.ok());
}

TEST(P9WireReader, Strings) {
  Guarded g({3, 0, 'a', 'b', 'c', 0, 0, 2, 0, 'x', 0});
  Reader r(g.span());
  EXPECT_EQ(r.str(), "abc");
  EXPECT_EQ(r.str(), "");
  EXPECT_EQ(r.str(),
            std::string("x\0", 2));  // NUL kept: the server must refuse it
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.remaining(), 0u);
}

TEST(P9WireReader, ShortStringsFail) {
  // Length prefix cut.
  {
    Guarded g({5});
    Reader r(g.span());
    EXPECT_EQ(r.str(), "");
    EXPECT_FALSE(r.ok());
  }
  // Length beyond the buffer (the guard would satisfy it).
  for (uint8_t have = 0; have < 5; ++have) {
    std::vector<uint8_t> b = {5, 0};
    b.insert(b.end(), have, 'q');
    Guarded g(b);
    Reader r(g.span());
    EXPECT_EQ(r.str(), "") << int(have);
    EXPECT_FALSE(r.ok());
  }
  // The largest length with nothing after it.
  {
    Guarded g({0xff, 0xff});
    Reader r(g.span());
    EXPECT_EQ(r.str(), "");
    EXPECT_FALSE(r.ok());
  }
}

TEST(P9WireReader, Bytes) {
  Guarded g({1, 2, 3, 4});
  Reader r(g.span());
  EXPECT_TRUE(r.bytes(0).empty());
  EXPECT_TRUE(r.ok());
  auto b = r.bytes(3);
  ASSERT_EQ(b.size(), 3u);
  EXPECT_EQ(b[0], 1);
  EXPECT_EQ(b[2], 3);
  EXPECT_EQ(b.data(), g.buf.data());  // a view, not a copy
  EXPECT_TRUE(r.bytes(2).empty());
  EXPECT_FALSE(r.ok());
  Reader huge(g.span());
  EXPECT_TRUE(huge.bytes(SIZE_MAX).empty());
  EXPECT_FALSE(huge.ok());
  EXPECT_EQ(huge.remaining(), 4u);
}

TEST(P9WireReader, EmptyBuffer) {
  Reader r(std::span<const uint8_t>{});
  EXPECT_EQ(r.remaining(), 0u);
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.u8(), 0u);
  EXPECT_FALSE(r.ok());
}

TEST(P9WireWriter, HeaderAndLittleEndianFields) {
  Writer w(0x75, 0x1234);
  EXPECT_EQ(w.size(), kHeaderSize);
  w.u8(0xab);
  w.u16(0xcdef);
  w.u32(0x01020304);
  w.u64(0x1122334455667788ull);
  auto m = std::move(w).finish();
  const std::vector<uint8_t> want = {
      22,   0,    0,    0,    0x75, 0x34, 0x12, 0xab, 0xef, 0xcd, 0x04,
      0x03, 0x02, 0x01, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11};
  EXPECT_EQ(m, want);
}

TEST(P9WireWriter, EmptyMessageIsSevenBytes) {
  auto m = Writer(kTclunk + 1, 9).finish();
  EXPECT_EQ(m, (std::vector<uint8_t>{7, 0, 0, 0, kTclunk + 1, 9, 0}));
}

TEST(P9WireWriter, StringQidBytes) {
  Writer w(1, 2);
  w.str("hi");
  Qid q;
  q.type = kQidDir;
  q.version = 0x0a0b0c0d;
  q.path = 0x0102030405060708ull;
  w.qid(q);
  const uint8_t raw[] = {9, 8};
  w.bytes(raw);
  auto m = std::move(w).finish();
  // The size field counts the whole message, header included.
  const std::vector<uint8_t> want = {
      26,   0,    0,    0, 1, 2, 0, 2, 0, 'h', 'i', 0x80, 0x0d,
      0x0c, 0x0b, 0x0a, 8, 7, 6, 5, 4, 3, 2,   1,   9,    8};
  EXPECT_EQ(m, want);
}

TEST(P9WireWriter, LongStringIsCutToSixteenBits) {
  Writer w(1, 2);
  w.str(std::string(70000, 'z'));
  auto m = std::move(w).finish();
  ASSERT_EQ(m.size(), kHeaderSize + 2 + 0xffff);
  EXPECT_EQ(m[7], 0xff);
  EXPECT_EQ(m[8], 0xff);
  const uint32_t size = m[0] | m[1] << 8 | m[2] << 16 | uint32_t{m[3]} << 24;
  EXPECT_EQ(size, m.size());
}

TEST(P9WireWriter, ExtendAndShrink) {
  Writer w(1, 2);
  uint8_t* p = w.extend(10);
  for (int i = 0; i < 10; ++i) p[i] = static_cast<uint8_t>(i);
  w.shrink(4);
  EXPECT_EQ(w.size(), kHeaderSize + 6);
  auto m = std::move(w).finish();
  EXPECT_EQ(m[0], kHeaderSize + 6);
  EXPECT_EQ(m.back(), 5);
}

TEST(P9WireWriter, SizeFieldAboveSixteenBits) {
  Writer w(1, 2);
  w.extend(0x12345);
  auto m = std::move(w).finish();
  const uint32_t want = 0x12345 + kHeaderSize;
  EXPECT_EQ(m[0], want & 0xff);
  EXPECT_EQ(m[1], (want >> 8) & 0xff);
  EXPECT_EQ(m[2], (want >> 16) & 0xff);
  EXPECT_EQ(m[3], 0);
}

TEST(P9WireErrorReply, Layout) {
  auto m = error_reply(0xbeef, 0x01020304);
  EXPECT_EQ(
      m, (std::vector<uint8_t>{11, 0, 0, 0, kRlerror, 0xef, 0xbe, 4, 3, 2, 1}));
  auto e = error_reply(kNoTag, 2);
  EXPECT_EQ(e, (std::vector<uint8_t>{11, 0, 0, 0, 7, 0xff, 0xff, 2, 0, 0, 0}));
}

TEST(P9WireRoundTrip, ReaderReadsWhatWriterWrote) {
  Writer w(kTwalk, 77);
  w.u32(5);
  w.u32(6);
  w.u16(2);
  w.str("one");
  w.str("two");
  auto m = std::move(w).finish();
  Reader r(m);
  EXPECT_EQ(r.u32(), m.size());
  EXPECT_EQ(r.u8(), kTwalk);
  EXPECT_EQ(r.u16(), 77);
  EXPECT_EQ(r.u32(), 5u);
  EXPECT_EQ(r.u32(), 6u);
  EXPECT_EQ(r.u16(), 2);
  EXPECT_EQ(r.str(), "one");
  EXPECT_EQ(r.str(), "two");
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.remaining(), 0u);
}

}  // namespace
}  // namespace vmrun::devices::p9
