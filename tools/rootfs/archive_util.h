// libarchive handles and the path rules every image file name goes through.
#pragma once

#include <archive.h>
#include <archive_entry.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "vmm/result.h"

namespace vmrun::rootfs {

struct ArchiveReadFree {
  void operator()(archive* a) const { archive_read_free(a); }
};
struct ArchiveWriteFree {
  void operator()(archive* a) const { archive_write_free(a); }
};
using ReadArchive = std::unique_ptr<archive, ArchiveReadFree>;
using WriteArchive = std::unique_ptr<archive, ArchiveWriteFree>;

// A tar stream to read: a file, or bytes in memory (the tests, the fuzzer).
struct TarInput {
  std::string path;
  std::string_view bytes;
};

// Opens a tar, uncompressed, gzip or zstd. Only those: libarchive's
// other filters may run external programs (lzop, lrzip...) on what a
// hostile layer claims to be. A failure is an input error.
Result<ReadArchive> open_tar(const TarInput& in);

// libarchive's message for the last error, never empty or multi-line.
std::string archive_message(archive* a);

// An entry name as path components: leading "./" and "/" and empty or "."
// components dropped (tar writers differ in these), any ".." refused, a
// component longer than ext4's 255 bytes or a path longer than max_path
// refused. `what` names it in the error ("entry", "hard link target").
Result<std::vector<std::string>> split_entry_path(std::string_view raw,
                                                  std::string_view what,
                                                  size_t max_path = 4096);

std::string join_path(const std::vector<std::string>& parts, size_t count);
inline std::string join_path(const std::vector<std::string>& parts) {
  return join_path(parts, parts.size());
}

}  // namespace vmrun::rootfs
