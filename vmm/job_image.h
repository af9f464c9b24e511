// What a job image (an ext4 file system from vmrun-mkjob) says about the
// kernel it was made for, read on the host before any guest runs: a job
// with DKMS modules built for one kernel release cannot load them into
// another, and saying so here beats a guest that fails halfway.
#pragma once

#include <optional>
#include <string>

#include "vmm/result.h"

namespace vmrun {

// Where vmrun-mkjob --dkms writes the release its modules were built for.
inline constexpr const char* kJobKernelFile = "/.vmrun/kernel";

struct JobImageKernel {
  // Set: libext2fs could not read the image (not ext4, damaged), so nothing
  // is known; the guest reports a bad job disk itself. Says why.
  std::optional<std::string> unreadable;
  // /.vmrun/kernel's release; unset when the image has no such file.
  std::optional<std::string> release;
};

// Reads kJobKernelFile from the image at `path` with libext2fs, read-only
// (no journal replay, nothing written). An error: the file is there but is
// not a regular file of under 256 bytes whose first line is a release.
Result<JobImageKernel> read_job_image_kernel(const std::string& path);

// The check before boot: an error (one line, for stderr) when the job
// image's modules were built for another release than `booted`; when the
// booted kernel's release is unknown, a warning with `why_unknown`.
Result<void> check_job_image_kernel(const std::string& image,
                                    const std::optional<std::string>& booted,
                                    const std::string& why_unknown);

}  // namespace vmrun
