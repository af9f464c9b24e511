// Flattening layers made in a test, and reading the result back, for the
// vmrun-rootfs flatten tests.
#pragma once

#include <gtest/gtest.h>

#include "tests/unit/rootfs_test_tars.h"
#include "tools/rootfs/errors.h"
#include "tools/rootfs/flatten.h"
#include "tools/rootfs/tar_writer.h"

namespace vmrun::rootfs::testing {

using Layer = std::vector<TarEntry>;

struct Flat {
  std::vector<TarEntry> entries;  // stream order
  std::map<std::string, TarEntry> at;
};

inline Result<Flat> flatten(const std::vector<std::string>& tars,
                            const Limits& limits = {}) {
  std::vector<TarInput> inputs;
  for (const auto& t : tars) inputs.push_back({"", t});
  MergedTree tree = VMRUN_TRY(merge_layers(inputs, limits));
  std::string out;
  VMRUN_TRY(write_flat_tar(tree, inputs, {-1, &out}));
  Flat f;
  f.entries = read_tar(out);
  f.at = by_path(f.entries);
  return f;
}

inline Flat flatten_ok(const std::vector<Layer>& layers) {
  std::vector<std::string> tars;
  for (const auto& l : layers) tars.push_back(make_tar(l));
  auto r = flatten(tars);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : plain_message(r.error()));
  return r.ok() ? std::move(r).value() : Flat{};
}

inline std::string flatten_error(const std::vector<Layer>& layers,
                                 const Limits& limits = {}) {
  std::vector<std::string> tars;
  for (const auto& l : layers) tars.push_back(make_tar(l));
  auto r = flatten(tars, limits);
  if (r.ok()) return "(no error)";
  EXPECT_TRUE(is_input_error(r.error())) << r.error().message();
  return plain_message(r.error());
}

}  // namespace vmrun::rootfs::testing
