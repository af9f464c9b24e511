// --vfio-pci's host PCI addresses: what PciAddress::parse accepts (the
// forms lspci and sysfs print) and rejects, and how to_string spells it.
#include <gtest/gtest.h>

#include <string>

#include "devices/vfio/pci_address.h"

namespace vmrun::devices::vfio {
namespace {

PciAddress parse_ok(const std::string& text) {
  auto r = PciAddress::parse(text);
  EXPECT_TRUE(r.ok()) << text << ": " << (r.ok() ? "" : r.error().message());
  return r.ok() ? r.value() : PciAddress{};
}

TEST(PciAddressTest, ParsesTheFullDomainBusDeviceFunctionForm) {
  PciAddress a = parse_ok("0000:01:00.0");
  EXPECT_EQ(a.domain, 0u);
  EXPECT_EQ(a.bus, 0x01);
  EXPECT_EQ(a.device, 0x00);
  EXPECT_EQ(a.function, 0);

  PciAddress b = parse_ok("abcd:fe:1f.7");
  EXPECT_EQ(b.domain, 0xabcdu);
  EXPECT_EQ(b.bus, 0xfe);
  EXPECT_EQ(b.device, 0x1f);
  EXPECT_EQ(b.function, 7);
}

TEST(PciAddressTest, ShortFormWithoutDomainMeansDomainZero) {
  EXPECT_EQ(parse_ok("3a:02.1"), (PciAddress{0, 0x3a, 0x02, 1}));
}

TEST(PciAddressTest, AcceptsUpperCaseHexAndPrintsLowerCase) {
  PciAddress a = parse_ok("000A:0B:1C.3");
  EXPECT_EQ(a, (PciAddress{0xa, 0x0b, 0x1c, 3}));
  EXPECT_EQ(a.to_string(), "000a:0b:1c.3");
}

TEST(PciAddressTest, ToStringAlwaysIncludesTheDomainWithFixedWidthFields) {
  EXPECT_EQ((PciAddress{0, 1, 0, 0}).to_string(), "0000:01:00.0");
  EXPECT_EQ((PciAddress{0x12, 0xa, 3, 4}).to_string(), "0012:0a:03.4");
  EXPECT_EQ(parse_ok("05:1f.2").to_string(), "0000:05:1f.2");
}

TEST(PciAddressTest, ToStringAndParseRoundTrip) {
  for (const PciAddress& a :
       {PciAddress{0, 0, 0, 0}, PciAddress{0xffff, 0xff, 31, 7}, PciAddress{1, 0x80, 0x10, 5}}) {
    EXPECT_EQ(parse_ok(a.to_string()), a) << a.to_string();
  }
}

TEST(PciAddressTest, DeviceAbove31OrFunctionAbove7IsRejected) {
  EXPECT_FALSE(PciAddress::parse("0000:00:20.0").ok()) << "device 0x20";
  EXPECT_FALSE(PciAddress::parse("0000:00:ff.0").ok());
  EXPECT_FALSE(PciAddress::parse("0000:00:00.8").ok()) << "function 8";
  EXPECT_FALSE(PciAddress::parse("00:1f.f").ok());
}

TEST(PciAddressTest, ShortOrLongFieldsAreRejected) {
  EXPECT_FALSE(PciAddress::parse("0:01:00.0").ok()) << "one-digit domain";
  EXPECT_FALSE(PciAddress::parse("00000:01:00.0").ok()) << "five-digit domain";
  EXPECT_FALSE(PciAddress::parse("0000:1:00.0").ok()) << "one-digit bus";
  EXPECT_FALSE(PciAddress::parse("0000:001:00.0").ok()) << "three-digit bus";
  EXPECT_FALSE(PciAddress::parse("0000:01:0.0").ok()) << "one-digit device";
  EXPECT_FALSE(PciAddress::parse("0000:01:00.00").ok()) << "two-digit function";
  EXPECT_FALSE(PciAddress::parse("1:0.0").ok());
}

TEST(PciAddressTest, MalformedTextIsRejected) {
  for (const char* text :
       {"", "0000", "0000:01", "0000:01:00", "0000:01:00.", "0000:01:00:0", "0000.01:00.0",
        "0000:01:00.0 ", " 0000:01:00.0", "0000:01:00.0\n", "0000:0g:00.0", "0000:01:00.0:0",
        "0000::01:00.0", "a:b:c:d.e", "0x00:01:00.0", "-001:01:00.0"}) {
    EXPECT_FALSE(PciAddress::parse(text).ok()) << "'" << text << "'";
  }
}

TEST(PciAddressTest, ErrorQuotesTheInputAndShowsTheExpectedForm) {
  auto r = PciAddress::parse("01:00");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("'01:00'"), std::string::npos) << r.error().message();
  EXPECT_NE(r.error().message().find("0000:01:00.0"), std::string::npos)
      << "shows an example: " << r.error().message();
}

}  // namespace
}  // namespace vmrun::devices::vfio
