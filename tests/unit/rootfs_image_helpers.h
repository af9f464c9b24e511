// Image inputs made in a test (temporary directories and files, image
// configs), for the vmrun-rootfs OCI and docker save tests.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <fstream>
#include <string>

#include "tests/unit/rootfs_test_tars.h"
#include "tools/rootfs/cache.h"
#include "tools/rootfs/errors.h"
#include "tools/rootfs/image_plan.h"
#include "tools/rootfs/json.h"
#include "tools/rootfs/sha256.h"

namespace vmrun::rootfs::testing {

class TempDir {
 public:
  TempDir() {
    char t[] = "/tmp/rootfs-test.XXXXXX";
    path_ = mkdtemp(t);
  }
  ~TempDir() { remove_tree(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

inline void write(const std::string& path, const std::string& data) {
  std::ofstream(path, std::ios::binary) << data;
}

inline Json config(const std::string& arch) {
  return {
      {"architecture", arch}, {"os", "linux"}, {"config", {{"Cmd", {"true"}}}}};
}
inline Result<ImagePlan> plan(const std::string& path,
                              const std::string& selector = "") {
  ImageSource src = VMRUN_TRY(ImageSource::open(path, "IMG"));
  if (src.has("index.json")) return plan_oci(src, selector);
  return plan_docker(src, selector);
}

inline std::string error_of(const Result<ImagePlan>& r) {
  if (r.ok()) return "(no error)";
  EXPECT_TRUE(is_input_error(r.error())) << r.error().message();
  return plain_message(r.error());
}

}  // namespace vmrun::rootfs::testing
