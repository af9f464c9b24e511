// rootfs_flatten_seeds DIR: seed inputs for rootfs_flatten_fuzz (its
// input format is at the top of rootfs_flatten_fuzz.cc): small layers with
// whiteouts, an opaque directory, hard links, symlinks, devices, xattrs,
// one gzip layer. From nothing, libFuzzer seldom reaches a tar header
// whose checksum is right in the 20 s CI gives it.
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>

#include "tests/unit/rootfs_test_tars.h"

using namespace vmrun::rootfs::testing;
namespace testing = vmrun::rootfs::testing;

namespace {

std::string one(const std::string& layer) {
  return std::string(1, '\0') + layer;
}

std::string two(const std::string& a, const std::string& b) {
  std::string out(1, '\1');
  uint32_t len = static_cast<uint32_t>(a.size());
  out.append(reinterpret_cast<const char*>(&len), 4);
  return out + a + b;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: rootfs_flatten_seeds DIR\n");
    return 2;
  }
  const std::string out_dir = argv[1];
  TarEntry su = file("bin/su", "su", 04755);
  TarEntry ping = file("bin/ping", "p", 0755);
  ping.xattrs = {{"security.capability", "\x01\x02"}};
  TarEntry null = file("dev/null", "");
  null.type = 'c';
  null.major = 1;
  null.minor = 3;
  TarEntry mine = file("home/u/f", "data");
  mine.uid = mine.gid = 1000;
  const std::string lower =
      make_tar({dir("bin"), su, ping, hardlink("bin/su2", "bin/su"), null, mine,
                dir("etc/conf"), file("etc/conf/a", "a"),
                testing::symlink("lib", "usr/lib"), file("old", "o")});
  const std::string upper =
      make_tar({file(".wh.old", ""), file("etc/conf/.wh..wh..opq", ""),
                file("etc/conf/b", "b"), file("bin/su", "new")});
  const std::string seeds[] = {
      one(lower),
      two(lower, upper),
      two(lower,
          make_tar({file("new", std::string(3000, 'n'))}, Compression::kGzip)),
      one(make_tar({file("./a", "x"), file("/b", "y"), dir("c/d")})),
  };
  int i = 0;
  for (const auto& s : seeds) {
    std::ofstream(out_dir + "/seed" + std::to_string(i++), std::ios::binary)
        << s;
  }
  return 0;
}
