// Legacy `docker save` archives: manifest.json, an array of {Config,
// RepoTags, Layers} naming members of the archive. There is no manifest
// blob; the image is named by its config's digest (docker's image ID),
// and each layer is checked against the config's rootfs.diff_ids.
#include "tools/rootfs/errors.h"
#include "tools/rootfs/image_plan.h"
#include "tools/rootfs/json.h"
#include "tools/rootfs/sha256.h"

namespace vmrun::rootfs {
namespace {

constexpr size_t kMaxImages = 1000;
constexpr size_t kMaxLayers = 1000;

struct Entry {
  std::string config;
  std::vector<std::string> tags, layers;
};

Result<std::string> member_name(const std::string& raw) {
  auto parts = VMRUN_TRY_CTX(split_entry_path(raw, "member"), "manifest.json");
  if (parts.empty()) return input_error("manifest.json names an empty member");
  return join_path(parts);
}

Result<std::vector<Entry>> parse_manifest(const ImageSource& src) {
  const Json j = VMRUN_TRY(
      parse_json(VMRUN_TRY(src.read("manifest.json")), "manifest.json"));
  if (!j.is_array() || j.empty())
    return input_error("manifest.json is not a list of images");
  if (j.size() > kMaxImages)
    return input_error("manifest.json lists too many images");
  std::vector<Entry> out;
  for (const Json& m : j) {
    Entry e;
    auto config = string_member(m, "Config");
    if (!config)
      return input_error("manifest.json has an image without a Config");
    e.config = VMRUN_TRY(member_name(*config));
    e.tags = VMRUN_TRY(strings_member(m, "RepoTags", "manifest.json"));
    for (const auto& l :
         VMRUN_TRY(strings_member(m, "Layers", "manifest.json"))) {
      e.layers.push_back(VMRUN_TRY(member_name(l)));
    }
    if (e.layers.size() > kMaxLayers)
      return input_error("manifest.json: too many layers");
    out.push_back(std::move(e));
  }
  return out;
}

// The digest a member's name claims: "HEX.json" (docker before 25) or
// "blobs/sha256/HEX"; "" when the name claims none.
std::string named_digest(const std::string& name) {
  std::string base = name.substr(name.rfind('/') + 1);
  if (base.size() == 69 && base.ends_with(".json")) base.resize(64);
  return is_sha256_hex(base) ? base : "";
}

}  // namespace

Result<ImagePlan> plan_docker(const ImageSource& src,
                              const std::string& selector) {
  const auto entries = VMRUN_TRY(parse_manifest(src));
  std::vector<std::string> names;
  for (const auto& e : entries) {
    names.push_back(e.tags.empty() ? "<untagged " + e.config + ">"
                                   : short_name(e.tags[0]));
  }
  const Entry* pick = nullptr;
  std::string name;
  if (selector.empty()) {
    if (entries.size() > 1) {
      return input_error(src.display() + " holds " +
                         std::to_string(entries.size()) +
                         " images; pick one with " + src.display() +
                         ":NAME:TAG: " + join_names(names));
    }
    pick = &entries[0];
    if (!pick->tags.empty()) name = short_name(pick->tags[0]);
  } else {
    for (const auto& e : entries) {
      for (const auto& t : e.tags) {
        if (!pick && same_name(selector, t)) {
          pick = &e;
          name = short_name(t);
        }
      }
    }
    if (!pick) {
      return input_error(src.display() + " has no image " +
                         printable(selector) + "; it holds " +
                         join_names(names));
    }
  }
  const std::string config_json = VMRUN_TRY(src.read(pick->config));
  ImagePlan plan;
  plan.digest_hex = sha256_hex(config_json);
  plan.name = name;
  if (auto claimed = named_digest(pick->config);
      !claimed.empty() && claimed != plan.digest_hex) {
    return digest_mismatch(claimed);
  }
  plan.config = VMRUN_TRY(parse_oci_config(config_json));
  VMRUN_TRY(check_platform(plan.config, src.display()));
  const Json config = VMRUN_TRY(parse_json(config_json, "the image config"));
  std::vector<std::string> diff_ids;
  if (const Json* rootfs = member(config, "rootfs")) {
    diff_ids =
        VMRUN_TRY(strings_member(*rootfs, "diff_ids", "the image config"));
  }
  if (diff_ids.size() != pick->layers.size()) {
    return input_error(src.display() +
                       ": the config's rootfs.diff_ids do not match "
                       "manifest.json's Layers");
  }
  for (size_t i = 0; i < diff_ids.size(); ++i) {
    plan.layers.push_back(
        {pick->layers[i], VMRUN_TRY(digest_hex(diff_ids[i]))});
  }
  return plan;
}

}  // namespace vmrun::rootfs
