// The driver developer's loop: a module built on the host with the guest
// kernel's headers (images/kmake), loaded in a running guest from a share,
// rebuilt on the host and loaded again, with no image rebuilt.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "tests/support/integration.h"
#include "tests/support/subprocess.h"
#include "tests/support/temp_dir.h"

namespace {

namespace fs = std::filesystem;
using namespace vmrun::test_support;
using vmrun::test_support::vmrun;  // not the namespace

TEST(ModuleLoop, RebuiltModuleLoadsAgainInTheRunningGuest) {
  TempDir tmp;
  const fs::path drv = fs::path(tmp.path()) / "drv";
  copy_edu_sources(drv);
  const std::string kmake = std::string(VMRUN_SOURCE_DIR) + "/images/kmake";
  RunResult built = run({kmake, drv.string(), "EDU_BUILD_TAG=first"});
  ASSERT_EQ(built.exit_code, 0) << describe(built);

  // The guest loads the module each time the host says go, and shows which
  // build it got; between the two, the host rebuilds it.
  const std::string guest_loop =
      "for n in 1 2; do while [ ! -e /mnt/drv/go$n ]; do sleep 0.2; done; "
      "insmod /mnt/drv/edu.ko && echo loaded-$(cat /sys/module/edu/version) && "
      "rmmod edu; done";
  const std::string script =
      "\"$0\" --9p \"$1,drv\" -- sh -c \"$3\" > \"$1/../out\" 2>&1 & pid=$!;"
      "touch \"$1/go1\";"
      "until grep -q loaded-first \"$1/../out\"; do kill -0 $pid || break; sleep 1; done;"
      "\"$2\" \"$1\" EDU_BUILD_TAG=second > /dev/null || echo rebuild-failed;"
      "touch \"$1/go2\"; wait $pid; echo status=$?; cat \"$1/../out\"";
  RunResult r = run({"/bin/sh", "-c", script, VMRUN_BINARY, drv.string(), kmake, guest_loop});
  EXPECT_TRUE(contains(r.out, "status=0")) << describe(r);
  const size_t first = r.out.find("loaded-first"), second = r.out.find("loaded-second");
  ASSERT_NE(first, std::string::npos) << describe(r);
  ASSERT_NE(second, std::string::npos) << describe(r);
  EXPECT_LT(first, second);
  EXPECT_FALSE(contains(r.out, "rebuild-failed")) << describe(r);
}

}  // namespace
