// libFuzzer: the input is one or two image layers for vmrun-rootfs's
// flattener (tools/rootfs/flatten.h, tar_writer.h). Byte 0 even: the rest
// is one layer; odd: bytes 1-4 (little-endian) are the first layer's
// length, then the first layer, then the second. Whatever the layers
// hold, the flattened tar must name only paths inside the image, and a
// hard link only a path written before it.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "tools/rootfs/flatten.h"
#include "tools/rootfs/tar_writer.h"

namespace {

using namespace vmrun::rootfs;

bool inside(std::string_view p) {
  if (p.empty() || p.front() == '/') return false;
  size_t i = 0;
  while (i <= p.size()) {
    size_t slash = p.find('/', i);
    if (slash == std::string_view::npos) slash = p.size();
    if (p.substr(i, slash - i) == "..") return false;
    i = slash + 1;
  }
  return true;
}

void check_flat_tar(const std::string& tar) {
  ReadArchive a(archive_read_new());
  archive_read_support_format_tar(a.get());
  if (archive_read_open_memory(a.get(), tar.data(), tar.size()) != ARCHIVE_OK)
    std::abort();
  std::set<std::string> written;
  archive_entry* e = nullptr;
  for (;;) {
    int rc = archive_read_next_header(a.get(), &e);
    if (rc == ARCHIVE_EOF) break;
    if (rc != ARCHIVE_OK && rc != ARCHIVE_WARN) std::abort();  // we wrote it
    const char* path = archive_entry_pathname(e);
    if (!path) path = archive_entry_pathname_utf8(e);
    if (!path || !inside(path)) std::abort();
    if (const char* link = archive_entry_hardlink(e)) {
      if (!inside(link) || !written.count(link)) std::abort();
    }
    written.insert(path);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::vector<TarInput> layers;
  if ((data[0] & 1) == 0) {
    layers.push_back({"", in.substr(1)});
  } else {
    if (size < 5) return 0;
    uint32_t len;
    std::memcpy(&len, data + 1, 4);
    std::string_view rest = in.substr(5);
    len = static_cast<uint32_t>(std::min<size_t>(len, rest.size()));
    layers.push_back({"", rest.substr(0, len)});
    layers.push_back({"", rest.substr(len)});
  }
  Limits limits;
  limits.max_total_bytes = 16 << 20;
  limits.max_entry_bytes = 8 << 20;
  limits.max_entries = 20000;
  auto tree = merge_layers(layers, limits);
  if (!tree.ok()) return 0;
  (void)image_size(*tree);
  std::string out;
  if (!write_flat_tar(*tree, layers, {-1, &out}).ok()) return 0;
  check_flat_tar(out);
  return 0;
}
