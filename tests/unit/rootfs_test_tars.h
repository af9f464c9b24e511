// Small tar streams for the vmrun-rootfs tests and fuzz seeds, written and
// read back with libarchive: a layer is a list of entries.
#pragma once

#include <archive.h>
#include <archive_entry.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace vmrun::rootfs::testing {

struct TarEntry {
  std::string path;
  char type = 'f';  // f file, d dir, l symlink, h hard link, c/b device, p fifo
  std::string data;
  std::string link;  // symlink target, or the hard link's target path
  uint32_t mode = 0644;
  int64_t uid = 0, gid = 0;
  int64_t mtime = 1700000000;
  uint32_t major = 0, minor = 0;
  std::vector<std::pair<std::string, std::string>> xattrs;
};

inline TarEntry file(std::string path, std::string data, uint32_t mode = 0644) {
  TarEntry e;
  e.path = std::move(path);
  e.data = std::move(data);
  e.mode = mode;
  return e;
}
inline TarEntry dir(std::string path, uint32_t mode = 0755) {
  TarEntry e;
  e.path = std::move(path);
  e.type = 'd';
  e.mode = mode;
  return e;
}
inline TarEntry symlink(std::string path, std::string target) {
  TarEntry e;
  e.path = std::move(path);
  e.type = 'l';
  e.link = std::move(target);
  e.mode = 0777;
  return e;
}
inline TarEntry hardlink(std::string path, std::string target) {
  TarEntry e;
  e.path = std::move(path);
  e.type = 'h';
  e.link = std::move(target);
  return e;
}

enum class Compression { kNone, kGzip, kZstd };

inline std::string make_tar(const std::vector<TarEntry>& entries,
                            Compression c = Compression::kNone) {
  std::string out;
  std::unique_ptr<archive, int (*)(archive*)> a(archive_write_new(),
                                                archive_write_free);
  archive_write_set_format_pax_restricted(a.get());
  if (c == Compression::kGzip) archive_write_add_filter_gzip(a.get());
  if (c == Compression::kZstd) archive_write_add_filter_zstd(a.get());
  archive_write_set_bytes_in_last_block(a.get(), 1);
  archive_write_open(
      a.get(), &out, nullptr,
      [](archive*, void* s, const void* buf, size_t n) -> la_ssize_t {
        static_cast<std::string*>(s)->append(static_cast<const char*>(buf), n);
        return static_cast<la_ssize_t>(n);
      },
      nullptr);
  for (const auto& t : entries) {
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, t.path.c_str());
    archive_entry_set_perm(e, t.mode);
    archive_entry_set_uid(e, t.uid);
    archive_entry_set_gid(e, t.gid);
    archive_entry_set_mtime(e, t.mtime, 0);
    mode_t type = AE_IFREG;
    switch (t.type) {
      case 'd':
        type = AE_IFDIR;
        break;
      case 'l':
        type = AE_IFLNK;
        archive_entry_set_symlink(e, t.link.c_str());
        break;
      case 'h':
        archive_entry_set_hardlink(e, t.link.c_str());
        break;
      case 'c':
        type = AE_IFCHR;
        break;
      case 'b':
        type = AE_IFBLK;
        break;
      case 'p':
        type = AE_IFIFO;
        break;
      default:
        break;
    }
    archive_entry_set_filetype(e, type);
    archive_entry_set_rdevmajor(e, t.major);
    archive_entry_set_rdevminor(e, t.minor);
    archive_entry_set_size(e, static_cast<la_int64_t>(t.data.size()));
    for (const auto& [k, v] : t.xattrs) {
      archive_entry_xattr_add_entry(e, k.c_str(), v.data(), v.size());
    }
    archive_write_header(a.get(), e);
    if (!t.data.empty())
      archive_write_data(a.get(), t.data.data(), t.data.size());
    archive_entry_free(e);
  }
  archive_write_close(a.get());
  return out;
}

// A tar read back, in stream order.
inline std::vector<TarEntry> read_tar(const std::string& bytes) {
  std::vector<TarEntry> out;
  std::unique_ptr<archive, int (*)(archive*)> a(archive_read_new(),
                                                archive_read_free);
  archive_read_support_filter_all(a.get());
  archive_read_support_format_tar(a.get());
  archive_read_support_format_empty(a.get());
  if (archive_read_open_memory(a.get(), bytes.data(), bytes.size()) !=
      ARCHIVE_OK)
    return out;
  archive_entry* e = nullptr;
  for (int rc; (rc = archive_read_next_header(a.get(), &e)) == ARCHIVE_OK ||
               rc == ARCHIVE_WARN;) {
    TarEntry t;
    t.path = archive_entry_pathname(e);
    while (t.path.size() > 1 && t.path.back() == '/') t.path.pop_back();
    t.mode = archive_entry_perm(e);
    t.uid = archive_entry_uid(e);
    t.gid = archive_entry_gid(e);
    t.mtime = archive_entry_mtime(e);
    t.major = archive_entry_rdevmajor(e);
    t.minor = archive_entry_rdevminor(e);
    switch (archive_entry_filetype(e)) {
      case AE_IFDIR:
        t.type = 'd';
        break;
      case AE_IFLNK:
        t.type = 'l';
        t.link = archive_entry_symlink(e);
        break;
      case AE_IFCHR:
        t.type = 'c';
        break;
      case AE_IFBLK:
        t.type = 'b';
        break;
      case AE_IFIFO:
        t.type = 'p';
        break;
      default:
        t.type = 'f';
        break;
    }
    if (const char* h = archive_entry_hardlink(e)) {
      t.type = 'h';
      t.link = h;
    }
    const char* name;
    const void* value;
    size_t size;
    archive_entry_xattr_reset(e);
    while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
      // libarchive reports an attribute once per pax form it was written in.
      std::string v(static_cast<const char*>(value), size);
      bool seen = false;
      for (auto& [k, old] : t.xattrs) {
        if (k == name) old = v, seen = true;
      }
      if (!seen) t.xattrs.emplace_back(name, v);
    }
    char buf[4096];
    la_ssize_t n;
    while ((n = archive_read_data(a.get(), buf, sizeof buf)) > 0)
      t.data.append(buf, static_cast<size_t>(n));
    out.push_back(std::move(t));
  }
  return out;
}

inline std::map<std::string, TarEntry> by_path(
    const std::vector<TarEntry>& entries) {
  std::map<std::string, TarEntry> m;
  for (const auto& e : entries) m[e.path] = e;
  return m;
}

}  // namespace vmrun::rootfs::testing
