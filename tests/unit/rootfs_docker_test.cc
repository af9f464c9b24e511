// vmrun-rootfs's reading of docker save archives (tools/rootfs/
// docker_archive.cc, image_source.cc), and inputs that are no image.
#include "tests/unit/rootfs_image_helpers.h"

namespace vmrun::rootfs {
namespace {

using namespace testing;

// A legacy docker save archive as a file.
class DockerSave {
 public:
  void image(const std::string& tag, const std::string& cmd) {
    std::string layer = make_tar({file("f", cmd)});
    Json c = config("amd64");
    c["config"]["Cmd"] = {cmd};
    c["rootfs"] = {{"type", "layers"},
                   {"diff_ids", {"sha256:" + sha256_hex(layer)}}};
    const std::string cj = c.dump(), hex = sha256_hex(cj);
    entries_.push_back(file(hex + ".json", cj));
    entries_.push_back(file(hex + "/layer.tar", layer));
    manifest_.push_back({{"Config", hex + ".json"},
                         {"RepoTags", {tag}},
                         {"Layers", {hex + "/layer.tar"}}});
  }
  std::string write_to(const TempDir& d) {
    auto all = entries_;
    all.push_back(file("manifest.json", manifest_.dump()));
    write(d.path() + "/save.tar", make_tar(all));
    return d.path() + "/save.tar";
  }
  std::vector<TarEntry> entries_;
  Json manifest_ = Json::array();
};

TEST(RootfsDocker, SeveralImagesNeedANameAndTheErrorListsThem) {
  TempDir d;
  DockerSave s;
  s.image("busybox:latest", "one");
  s.image("docker.io/library/alpine:3", "two");
  const std::string tar = s.write_to(d);
  EXPECT_EQ(error_of(plan(tar)),
            "IMG holds 2 images; pick one with IMG:NAME:TAG: busybox:latest, "
            "alpine:3");
  auto p = plan(tar, "alpine:3");
  ASSERT_TRUE(p.ok()) << p.error().message();
  EXPECT_EQ(p->config.cmd, std::vector<std::string>{"two"});
  EXPECT_EQ(p->name, "alpine:3");
  ASSERT_EQ(p->layers.size(), 1u);
  auto src = ImageSource::open(tar, "IMG");
  ASSERT_TRUE(src.ok());
  auto layers = src->layers(p->layers, d.path(), 1 << 20);
  ASSERT_TRUE(layers.ok()) << layers.error().message();
  EXPECT_EQ(layers->size(), 1u);
}

TEST(RootfsDocker, ConfigNotMatchingItsNameRefused) {
  TempDir d;
  DockerSave s;
  s.image("a:1", "one");
  s.entries_[0].data += " ";
  EXPECT_EQ(error_of(plan(s.write_to(d))),
            "blob sha256:" + s.entries_[0].path.substr(0, 64) +
                " does not match its digest");
}

TEST(RootfsDocker, MemberNamesCannotLeaveTheArchive) {
  TempDir d;
  DockerSave s;
  s.image("a:1", "one");
  s.manifest_[0]["Layers"] = {"../../etc/passwd"};
  EXPECT_EQ(error_of(plan(s.write_to(d))),
            "manifest.json: member '../../etc/passwd' leaves the image");
}

TEST(RootfsInput, NotAnArchive) {
  TempDir d;
  write(d.path() + "/x", "hello, not a tar");
  EXPECT_EQ(error_of(plan(d.path() + "/x")),
            "IMG is not an image archive (OCI or docker save): Unrecognized "
            "archive format");
  mkdir((d.path() + "/dir").c_str(), 0755);
  EXPECT_NE(error_of(plan(d.path() + "/dir")).find("not an OCI image layout"),
            std::string::npos);
}

}  // namespace
}  // namespace vmrun::rootfs
