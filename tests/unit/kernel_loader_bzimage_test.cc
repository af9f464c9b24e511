// Kernel loading from a synthetic bzImage (kernel_loader_images.h): the
// protected-mode payload lands at 1 MiB whatever the setup size, and
// hostile files give an error, never a crash or a write outside guest
// memory.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "tests/unit/kernel_loader_images.h"
#include "vmm/x86/kernel_loader.h"

namespace vmrun::x86 {
namespace {

// ---- bzImage ----

TEST(BzImageLoaderTest, PayloadLandsAtOneMiB) {
  BzImage bz;
  auto mem = guest();
  auto k = load_kernel(bz.build(), *mem);
  ASSERT_TRUE(k.ok()) << k.error().message();
  EXPECT_EQ(guest_bytes(*mem, 0x100000, bz.payload.size()), bz.payload);
  EXPECT_EQ(k->entry, 0x100200u);  // startup_64
  EXPECT_EQ(k->end, 0x100000u + 0x200000u);  // init_size is the footprint
  ASSERT_TRUE(k->header.has_value());
  EXPECT_EQ(k->header->setup_sects, 4);
  EXPECT_EQ(k->header->version, 0x020f);
  EXPECT_EQ(k->header->init_size, 0x200000u);
  EXPECT_EQ(k->initrd_addr_max, 0x7fffffffu);
  // The setup sectors stay out of guest memory at 1 MiB.
  EXPECT_EQ(guest_bytes(*mem, 0x100000 + bz.payload.size(), 1), Bytes{0});
}

TEST(BzImageLoaderTest, OtherSetupSizes) {
  for (uint8_t sects : {1, 30}) {
    BzImage bz;
    bz.hdr.setup_sects = sects;
    auto mem = guest();
    auto k = load_kernel(bz.build(), *mem);
    ASSERT_TRUE(k.ok()) << k.error().message();
    EXPECT_EQ(guest_bytes(*mem, 0x100000, bz.payload.size()), bz.payload)
        << int{sects};
  }
}

TEST(BzImageLoaderTest, ZeroSetupSectsMeansFour) {
  BzImage bz;
  Bytes image = bz.build();  // built with 4 setup sectors
  bz.hdr.setup_sects = 0;
  put(image, 0x1f1, bz.hdr);
  auto mem = guest();
  auto k = load_kernel(image, *mem);
  ASSERT_TRUE(k.ok()) << k.error().message();
  EXPECT_EQ(guest_bytes(*mem, 0x100000, bz.payload.size()), bz.payload);
}

TEST(BzImageLoaderTest, PayloadLargerThanInitSize) {
  BzImage bz;
  bz.hdr.init_size = 0x100;
  auto mem = guest();
  auto k = load_kernel(bz.build(), *mem);
  ASSERT_TRUE(k.ok());
  EXPECT_EQ(k->end, 0x100000u + bz.payload.size());
}

TEST(BzImageLoaderTest, HostileImagesGiveErrors) {
  auto mem = guest();
  {
    SCOPED_TRACE("no 64-bit entry");
    BzImage bz;
    bz.hdr.xloadflags = 0;
    EXPECT_FALSE(load_kernel(bz.build(), *mem).ok());
  }
  {
    SCOPED_TRACE("old boot protocol");
    BzImage bz;
    bz.hdr.version = 0x020b;
    EXPECT_FALSE(load_kernel(bz.build(), *mem).ok());
  }
  {
    SCOPED_TRACE("setup only, no payload");
    BzImage bz;
    bz.payload.clear();
    EXPECT_FALSE(load_kernel(bz.build(), *mem).ok());
  }
  {
    SCOPED_TRACE("setup_sects past the end of the file");
    BzImage bz;
    Bytes image = bz.build();
    bz.hdr.setup_sects = 200;
    put(image, 0x1f1, bz.hdr);
    EXPECT_FALSE(load_kernel(image, *mem).ok());
  }
  {
    SCOPED_TRACE("truncated inside the setup header");
    Bytes image = BzImage().build();
    image.resize(0x210);
    EXPECT_FALSE(load_kernel(image, *mem).ok());
  }
  {
    SCOPED_TRACE("init_size larger than guest memory");
    BzImage bz;
    bz.hdr.init_size = 0xffffffff;
    auto k = load_kernel(bz.build(), *mem);
    ASSERT_FALSE(k.ok());
    EXPECT_NE(k.error().message().find("MiB"), std::string::npos)
        << k.error().message();
  }
  {
    SCOPED_TRACE("payload larger than guest memory");
    BzImage bz;
    bz.payload.assign(3 * kMiB + 1, 0x90);  // 1 MiB + this > 4 MiB
    auto small = guest(4 * kMiB);
    EXPECT_FALSE(load_kernel(bz.build(), *small).ok());
  }
}

}  // namespace
}  // namespace vmrun::x86
