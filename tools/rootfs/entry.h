// One tar entry's metadata as an Inode: type, mode, owner, time, link
// target, device numbers and extended attributes, each checked.
#pragma once

#include <archive_entry.h>

#include <cstdint>
#include <memory>
#include <string>

#include "tools/rootfs/flatten.h"
#include "tools/rootfs/tree.h"
#include "vmm/result.h"

namespace vmrun::rootfs {

// A name in the locale's charset, else as UTF-8: libarchive gives no
// local form for a UTF-8 pax name the locale cannot show.
const char* entry_name(const char* local, const char* utf8);

// `size` is the entry's (checked) size; `what` names it in errors. A hard
// link is not an Inode of its own (flatten.cc shares its target's).
Result<std::shared_ptr<Inode>> read_inode(archive_entry* e, int64_t size,
                                          const Limits& limits,
                                          const std::string& what);

}  // namespace vmrun::rootfs
