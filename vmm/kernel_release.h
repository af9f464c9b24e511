// The guest kernel's release ("6.1.0-41-amd64"): what its module tree is
// named after (/lib/modules/REL) and what a job image's DKMS modules were
// built for. Told from the kernel file before any VM exists; every file
// read here is untrusted, so a malformed one only makes the release unknown.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "vmm/result.h"

namespace vmrun {

// Longer is not a release: the kernel's own limit (__NEW_UTS_LEN).
inline constexpr size_t kMaxReleaseLength = 64;

// A release as uname -r prints it: 1 to 64 of [A-Za-z0-9._+~-], not
// starting with '.', so it is safe as one path component.
bool is_kernel_release(std::string_view text);

// The first line of `text`, without surrounding blanks, if it is a release.
Result<std::string> parse_release_line(std::string_view text);

// A bzImage's own version string (the setup header's kernel_version), first
// word; an error if `image` (the file's first bytes, or all of it) is not a
// bzImage or the string is missing or out of bounds.
Result<std::string> bzimage_release(std::span<const uint8_t> image);

// The release of the kernel at `path`: for a bzImage, what its header says;
// for anything else named vmlinux or vmlinuz, the kernel.version file beside
// it (images/fetch-kernel writes the three together). An error says why the
// release cannot be told.
Result<std::string> kernel_release(const std::string& path);

}  // namespace vmrun
