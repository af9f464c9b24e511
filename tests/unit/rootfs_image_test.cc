// vmrun-rootfs's reading of OCI image layouts (tools/rootfs/oci_layout.cc,
// image_source.cc): selection by name and platform, and every blob
// checked by its digest.
#include "tests/unit/rootfs_image_helpers.h"

namespace vmrun::rootfs {
namespace {

using namespace testing;

// An OCI image layout directory built blob by blob.
class Layout {
 public:
  Layout() {
    mkdir((dir_.path() + "/blobs").c_str(), 0755);
    mkdir((dir_.path() + "/blobs/sha256").c_str(), 0755);
    write(dir_.path() + "/oci-layout", R"({"imageLayoutVersion":"1.0.0"})");
  }
  const std::string& path() const { return dir_.path(); }

  Json blob(const std::string& data, const std::string& media_type = "") {
    const std::string hex = sha256_hex(data);
    write(path() + "/blobs/sha256/" + hex, data);
    Json d = {{"digest", "sha256:" + hex}, {"size", data.size()}};
    if (!media_type.empty()) d["mediaType"] = media_type;
    return d;
  }
  // A manifest with one layer holding `file`; its descriptor.
  Json image(const std::string& arch, const std::string& file = "f") {
    Json m = {
        {"schemaVersion", 2},
        {"config", blob(config(arch).dump())},
        {"layers", Json::array({blob(make_tar({testing::file(file, "x")}))})}};
    return blob(m.dump(), "application/vnd.oci.image.manifest.v1+json");
  }
  void index(const std::vector<Json>& manifests) {
    Json j = {{"schemaVersion", 2}, {"manifests", Json::array()}};
    for (const auto& m : manifests) j["manifests"].push_back(m);
    write(path() + "/index.json", j.dump());
  }

 private:
  TempDir dir_;
};

Json named(Json d, const std::string& ref, const std::string& image_name = "") {
  d["annotations"]["org.opencontainers.image.ref.name"] = ref;
  if (!image_name.empty())
    d["annotations"]["io.containerd.image.name"] = image_name;
  return d;
}

Json for_platform(Json d, const std::string& arch) {
  d["platform"] = {{"os", "linux"}, {"architecture", arch}};
  return d;
}

TEST(RootfsOci, OneImage) {
  Layout l;
  Json m = l.image("amd64");
  l.index({named(m, "app:1")});
  auto p = plan(l.path());
  ASSERT_TRUE(p.ok()) << p.error().message();
  EXPECT_EQ("sha256:" + p->digest_hex, m["digest"]);
  EXPECT_EQ(p->name, "app:1");
  ASSERT_EQ(p->layers.size(), 1u);
  EXPECT_EQ(p->layers[0].name, "blobs/sha256/" + p->layers[0].digest_hex);
  EXPECT_EQ(p->config.cmd, std::vector<std::string>{"true"});
}

TEST(RootfsOci, SeveralImagesNeedANameAndTheErrorListsThem) {
  Layout l;
  Json a = named(l.image("amd64", "a"), "latest",
                 "docker.io/library/busybox:latest");
  Json b = named(l.image("amd64", "b"), "2", "example.com/tools:2");
  l.index({a, b});
  EXPECT_EQ(error_of(plan(l.path())),
            "IMG holds 2 images; pick one with IMG:NAME:TAG: busybox:latest, "
            "example.com/tools:2");
  auto p = plan(l.path(), "example.com/tools:2");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ("sha256:" + p->digest_hex, b["digest"]);
  p = plan(l.path(), "busybox:latest");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ("sha256:" + p->digest_hex, a["digest"]);
  EXPECT_EQ(
      error_of(plan(l.path(), "nope:1")),
      "IMG has no image nope:1; it holds busybox:latest, example.com/tools:2");
}

TEST(RootfsOci, RefNameAloneMatchesTheTag) {
  Layout l;
  Json a = named(l.image("amd64", "a"), "1.0");
  Json b = named(l.image("amd64", "b"), "2.0");
  l.index({a, b});
  auto p = plan(l.path(), "myapp:2.0");
  ASSERT_TRUE(p.ok()) << p.error().message();
  EXPECT_EQ("sha256:" + p->digest_hex, b["digest"]);
}

TEST(RootfsOci, MultiPlatformIndexPicksLinuxAmd64) {
  Layout l;
  Json arm = for_platform(l.image("arm64"), "arm64");
  Json amd = for_platform(l.image("amd64"), "amd64");
  Json idx = l.blob(
      Json{{"schemaVersion", 2}, {"manifests", Json::array({arm, amd})}}.dump(),
      "application/vnd.oci.image.index.v1+json");
  l.index({named(idx, "multi:1")});
  auto p = plan(l.path());
  ASSERT_TRUE(p.ok()) << p.error().message();
  EXPECT_EQ("sha256:" + p->digest_hex, amd["digest"]);
  EXPECT_EQ(p->name, "multi:1");
}

TEST(RootfsOci, Arm64ImageRefused) {
  Layout l;
  Json arm = for_platform(l.image("arm64"), "arm64");
  Json idx = l.blob(
      Json{{"schemaVersion", 2}, {"manifests", Json::array({arm})}}.dump(),
      "application/vnd.oci.image.index.v1+json");
  l.index({idx});
  EXPECT_EQ(error_of(plan(l.path())),
            "IMG is an image for linux/arm64; vmrun runs linux/amd64");
  // Known only from its config.
  Layout l2;
  l2.index({l2.image("arm64")});
  EXPECT_EQ(error_of(plan(l2.path())),
            "IMG is an image for linux/arm64; vmrun runs linux/amd64");
}

TEST(RootfsOci, ManifestOrConfigNotMatchingItsDigestRefused) {
  Layout l;
  Json m = l.image("amd64");
  l.index({m});
  const std::string hex = m["digest"].get<std::string>().substr(7);
  write(l.path() + "/blobs/sha256/" + hex,
        R"({"schemaVersion":2,"config":{},"layers":[]})");
  EXPECT_EQ(error_of(plan(l.path())),
            "blob sha256:" + hex + " does not match its digest");

  Layout l2;
  Json c = l2.blob(config("amd64").dump());
  Json m2 = l2.blob(Json{{"config", c}, {"layers", Json::array()}}.dump());
  l2.index({m2});
  const std::string chex = c["digest"].get<std::string>().substr(7);
  write(l2.path() + "/blobs/sha256/" + chex, config("amd64").dump() + " ");
  EXPECT_EQ(error_of(plan(l2.path())),
            "blob sha256:" + chex + " does not match its digest");
}

TEST(RootfsOci, DigestsCannotBePaths) {
  Layout l;
  l.index({Json{{"digest", "sha256:../../../../etc/passwd"}}});
  EXPECT_EQ(error_of(plan(l.path())),
            "unsupported digest 'sha256:../../../../etc/passwd' (vmrun-rootfs "
            "reads sha256 digests)");
  Layout l2;
  l2.index({Json{{"digest", "sha512:" + std::string(128, 'a')}}});
  EXPECT_NE(error_of(plan(l2.path())).find("unsupported digest"),
            std::string::npos);
}

TEST(RootfsOci, LayerNotMatchingItsDigestRefused) {
  Layout l;
  Json m = l.image("amd64");
  l.index({m});
  auto p = plan(l.path());
  ASSERT_TRUE(p.ok());
  write(l.path() + "/" + p->layers[0].name, make_tar({file("evil", "x")}));
  auto src = ImageSource::open(l.path(), "IMG");
  ASSERT_TRUE(src.ok());
  auto layers = src->layers(p->layers, l.path(), 1 << 20);
  ASSERT_FALSE(layers.ok());
  EXPECT_EQ(
      plain_message(layers.error()),
      "blob sha256:" + p->layers[0].digest_hex + " does not match its digest");
}

TEST(RootfsOci, JsonBounded) {
  Layout l;
  write(l.path() + "/index.json",
        std::string(100, '[') + std::string(100, ']'));
  EXPECT_EQ(error_of(plan(l.path())), "index.json is nested too deeply");
  write(l.path() + "/index.json", std::string(2 << 20, ' '));
  EXPECT_EQ(error_of(plan(l.path())), "IMG: 'index.json' is larger than 1 MiB");
  write(l.path() + "/index.json", "{\"manifests\": [");
  EXPECT_EQ(error_of(plan(l.path())), "index.json is not valid JSON");
}

}  // namespace
}  // namespace vmrun::rootfs
