#include "tools/rootfs/archive_util.h"

#include "tools/rootfs/errors.h"

namespace vmrun::rootfs {

// libarchive's reading block: large enough that a file layer is read in a
// few system calls.
constexpr size_t kReadBlock = 256 * 1024;

Result<ReadArchive> open_tar(const TarInput& in) {
  ReadArchive a(archive_read_new());
  if (!a) return Error("archive_read_new: out of memory");
  archive_read_support_filter_none(a.get());
  archive_read_support_filter_gzip(a.get());
  archive_read_support_filter_zstd(a.get());
  archive_read_support_format_tar(a.get());
  // A layer may be an empty file (nothing to add).
  archive_read_support_format_empty(a.get());
  int rc =
      in.path.empty()
          ? archive_read_open_memory(a.get(), in.bytes.data(), in.bytes.size())
          : archive_read_open_filename(a.get(), in.path.c_str(), kReadBlock);
  if (rc != ARCHIVE_OK) return input_error(archive_message(a.get()));
  return a;
}

std::string archive_message(archive* a) {
  const char* s = archive_error_string(a);
  std::string m = s && *s ? s : "unreadable archive";
  for (char& c : m) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return m;
}

Result<std::vector<std::string>> split_entry_path(std::string_view raw,
                                                  std::string_view what,
                                                  size_t max_path) {
  if (raw.size() > max_path) {
    return input_error(std::string(what) + " " + quote(raw) +
                       " is longer than " + std::to_string(max_path) +
                       " bytes");
  }
  std::vector<std::string> parts;
  size_t i = 0;
  while (i <= raw.size()) {
    size_t slash = raw.find('/', i);
    if (slash == std::string_view::npos) slash = raw.size();
    std::string_view part = raw.substr(i, slash - i);
    i = slash + 1;
    if (part.empty() || part == ".") continue;
    if (part == "..") {
      return input_error(std::string(what) + " " + quote(raw) +
                         " leaves the image");
    }
    if (part.size() > 255) {
      return input_error(std::string(what) + " " + quote(raw) +
                         " has a name longer than 255 bytes");
    }
    parts.emplace_back(part);
  }
  return parts;
}

std::string join_path(const std::vector<std::string>& parts, size_t count) {
  std::string out;
  for (size_t i = 0; i < count && i < parts.size(); ++i) {
    if (i) out += '/';
    out += parts[i];
  }
  return out;
}

}  // namespace vmrun::rootfs
