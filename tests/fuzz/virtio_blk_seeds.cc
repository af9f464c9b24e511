// virtio_blk_seeds DIR: writes seed inputs for virtio_blk_fuzz into DIR: a
// well-formed request of each type (read, write, flush, get-id, discard,
// write-zeroes), an indirect chain, and two requests in one ring. From
// nothing, libFuzzer's inputs never grow to a ring holding a request in the
// 20 s CI gives each fuzzer.
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "tests/fuzz/virtio_blk_layout.h"

namespace {

namespace L = vmrun::fuzz_layout;
constexpr uint8_t kSizeLog2 = 2;  // queue size 4
constexpr uint16_t kNext = 1, kWrite = 2, kIndirect = 4;
constexpr uint64_t kStatus = 0x7f0;

struct Desc {
  uint64_t addr;
  uint32_t len;
  uint16_t flags, next;
};

class Image {
 public:
  explicit Image(uint8_t options = 0) : bytes_(1 + 0x800) {
    bytes_[0] = static_cast<uint8_t>(options | kSizeLog2 << 4);
  }
  template <class T>
  void put(uint64_t gpa, const T& v) {
    std::memcpy(&bytes_[1 + gpa], &v, sizeof v);
  }
  void put_bytes(uint64_t gpa, const std::vector<uint8_t>& v) {
    std::memcpy(&bytes_[1 + gpa], v.data(), v.size());
  }
  void avail(const std::vector<uint16_t>& heads) {
    put<uint16_t>(L::kAvailRing + 2, static_cast<uint16_t>(heads.size()));
    for (size_t i = 0; i < heads.size(); ++i) put<uint16_t>(L::kAvailRing + 4 + 2 * i, heads[i]);
  }
  void descs(uint64_t at, const std::vector<Desc>& d) {
    for (size_t i = 0; i < d.size(); ++i) {
      put(at + 16 * i, d[i].addr);
      put(at + 16 * i + 8, d[i].len);
      put(at + 16 * i + 12, d[i].flags);
      put(at + 16 * i + 14, d[i].next);
    }
  }
  void header(uint64_t gpa, uint32_t type, uint64_t sector) {
    put(gpa, type);
    put(gpa + 8, sector);
  }
  const std::vector<uint8_t>& bytes() const { return bytes_; }

 private:
  std::vector<uint8_t> bytes_;
};

const uint64_t kDesc = L::desc_table(1 << kSizeLog2);

// Header at 0x100, `out` readable at 0x200, `in_len` writable at 0x400,
// then the status byte.
Image request(uint32_t type, uint64_t sector, const std::vector<uint8_t>& out = {},
              uint32_t in_len = 0) {
  Image m;
  std::vector<Desc> d{{0x100, 16, kNext, 1}};
  m.header(0x100, type, sector);
  if (!out.empty()) {
    d.push_back({0x200, static_cast<uint32_t>(out.size()), kNext, static_cast<uint16_t>(d.size() + 1)});
    m.put_bytes(0x200, out);
  }
  if (in_len) d.push_back({0x400, in_len, kNext | kWrite, static_cast<uint16_t>(d.size() + 1)});
  d.push_back({kStatus, 1, kWrite, 0});
  m.descs(kDesc, d);
  m.avail({0});
  return m;
}

std::vector<uint8_t> segment() {  // discard / write-zeroes: sector 8, 8 sectors
  std::vector<uint8_t> s(16, 0);
  s[0] = 8;
  s[8] = 8;
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: virtio_blk_seeds DIR\n");
    return 2;
  }
  std::vector<uint8_t> data(512);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i);
  Image indirect;
  indirect.descs(kDesc, {{0x300, 48, kIndirect, 0}});
  indirect.descs(0x300, {{0x100, 16, kNext, 1}, {0x400, 512, kNext | kWrite, 2}, {kStatus, 1, kWrite, 0}});
  indirect.header(0x100, 0, 3);
  indirect.avail({0});
  Image two(L::kEventIdx);
  two.descs(kDesc, {{0x100, 16, kNext, 1}, {kStatus, 1, kWrite, 0}, {0x120, 16, kNext, 3},
                    {kStatus + 1, 1, kWrite, 0}});
  two.header(0x100, 4, 0);
  two.header(0x120, 8, 0);
  two.avail({0, 2});
  const std::pair<const char*, Image> seeds[] = {
      {"read", request(0, 1, {}, 512)},     {"write", request(1, 2, data)},
      {"flush", request(4, 0)},             {"get-id", request(8, 0, {}, 20)},
      {"discard", request(11, 0, segment())}, {"write-zeroes", request(13, 0, segment())},
      {"indirect", indirect},               {"two", two},
  };
  for (const auto& [name, image] : seeds) {
    std::ofstream f(std::string(argv[1]) + "/" + name, std::ios::binary);
    f.write(reinterpret_cast<const char*>(image.bytes().data()),
            static_cast<std::streamsize>(image.bytes().size()));
    if (!f) {
      std::fprintf(stderr, "virtio_blk_seeds: cannot write %s/%s\n", argv[1], name);
      return 1;
    }
  }
  return 0;
}
