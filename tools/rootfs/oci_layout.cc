// OCI image layouts: index.json -> (image index ->) manifest -> config and
// layers, every blob checked against its digest.
#include <algorithm>
#include <optional>

#include "tools/rootfs/errors.h"
#include "tools/rootfs/image_plan.h"
#include "tools/rootfs/json.h"
#include "tools/rootfs/sha256.h"

namespace vmrun::rootfs {
namespace {

constexpr int kMaxIndexDepth = 4;
constexpr size_t kMaxManifests = 10000;
constexpr size_t kMaxLayers = 1000;

struct Descriptor {
  std::string hex, media_type, ref_name, image_name, os, arch, variant;
  std::optional<int64_t> size;
  bool attestation = false;

  bool has_platform() const { return !os.empty() || !arch.empty(); }
  std::string platform() const {
    return os + "/" + arch + (variant.empty() ? "" : "/" + variant);
  }
  // The image's name, or "" for an unnamed one.
  std::string label() const {
    return image_name.empty() ? ref_name : short_name(image_name);
  }
  std::string name() const {
    return label().empty() ? "sha256:" + hex.substr(0, 12) : label();
  }
};

Result<Descriptor> descriptor(const Json& j, const std::string& what) {
  Descriptor d;
  auto digest = string_member(j, "digest");
  if (!digest) return input_error(what + " has a descriptor without a digest");
  d.hex = VMRUN_TRY(digest_hex(*digest));
  d.media_type = string_member(j, "mediaType").value_or("");
  if (const Json* s = member(j, "size"); s && s->is_number_integer()) {
    d.size = s->get<int64_t>();
  }
  if (const Json* a = member(j, "annotations")) {
    d.ref_name =
        string_member(*a, "org.opencontainers.image.ref.name").value_or("");
    d.image_name = string_member(*a, "io.containerd.image.name").value_or("");
    d.attestation =
        string_member(*a, "vnd.docker.reference.type").value_or("") ==
        "attestation-manifest";
  }
  if (const Json* p = member(j, "platform")) {
    d.os = string_member(*p, "os").value_or("");
    d.arch = string_member(*p, "architecture").value_or("");
    d.variant = string_member(*p, "variant").value_or("");
  }
  return d;
}

Result<std::vector<Descriptor>> manifests_of(const Json& index,
                                             const std::string& what) {
  const Json* list = member(index, "manifests");
  if (!list || !list->is_array())
    return input_error(what + " has no manifests list");
  if (list->size() > kMaxManifests)
    return input_error(what + " lists too many manifests");
  std::vector<Descriptor> out;
  for (const Json& m : *list) out.push_back(VMRUN_TRY(descriptor(m, what)));
  return out;
}

Result<std::string> load(const ImageSource& src, const Descriptor& d) {
  std::string data = VMRUN_TRY(src.read_blob(d.hex));
  if (d.size && *d.size != static_cast<int64_t>(data.size())) {
    return digest_mismatch(d.hex);
  }
  return data;
}

// A multi-platform image: its linux/amd64 manifest.
Result<Descriptor> pick_platform(const std::vector<Descriptor>& list,
                                 const std::string& display) {
  std::vector<std::string> platforms;
  std::vector<const Descriptor*> unmarked;
  for (const auto& d : list) {
    if (d.attestation || d.os == "unknown") continue;
    if (!d.has_platform()) {
      unmarked.push_back(&d);
      continue;
    }
    if (d.os == "linux" && d.arch == "amd64") return d;
    platforms.push_back(d.platform());
  }
  if (platforms.empty() && unmarked.size() == 1) return *unmarked[0];
  if (platforms.empty()) {
    return input_error(display + " holds " + std::to_string(unmarked.size()) +
                       " manifests without a platform");
  }
  return input_error(display + " is an image for " + join_names(platforms) +
                     "; vmrun runs linux/amd64");
}

bool is_index(const Descriptor& d, const Json& j) {
  return d.media_type == "application/vnd.oci.image.index.v1+json" ||
         d.media_type ==
             "application/vnd.docker.distribution.manifest.list.v2+json" ||
         member(j, "manifests") != nullptr;
}

Result<ImagePlan> resolve(const ImageSource& src, const Descriptor& d,
                          int depth) {
  const std::string what = "manifest sha256:" + d.hex;
  const std::string data = VMRUN_TRY(load(src, d));
  const Json j = VMRUN_TRY(parse_json(data, what));
  if (is_index(d, j)) {
    if (depth >= kMaxIndexDepth)
      return input_error(what + ": image indexes nest too deeply");
    auto list = VMRUN_TRY(manifests_of(j, what));
    Descriptor pick = VMRUN_TRY(pick_platform(list, src.display()));
    return resolve(src, pick, depth + 1);
  }
  const Json* config = member(j, "config");
  const Json* layers = member(j, "layers");
  if (!config || !layers || !layers->is_array()) {
    return input_error(what +
                       " is not an image manifest (no config or layers)");
  }
  if (layers->size() > kMaxLayers)
    return input_error(what + " has too many layers");
  ImagePlan plan;
  plan.digest_hex = d.hex;
  const Descriptor cd = VMRUN_TRY(descriptor(*config, what));
  plan.config = VMRUN_TRY(parse_oci_config(VMRUN_TRY(load(src, cd))));
  VMRUN_TRY(check_platform(plan.config, src.display()));
  for (const Json& l : *layers) {
    const Descriptor ld = VMRUN_TRY(descriptor(l, what));
    if (ld.media_type.find("+encrypted") != std::string::npos) {
      return input_error(what + " has an encrypted layer");
    }
    plan.layers.push_back({blob_name(ld.hex), ld.hex});
  }
  return plan;
}

// The selector's tag alone ("1.0" of "app:1.0"): what `skopeo copy
// oci:DIR:1.0` writes as the ref name.
std::string tag_of(const std::string& selector) {
  size_t colon = selector.rfind(':');
  size_t slash = selector.rfind('/');
  if (colon == std::string::npos ||
      (slash != std::string::npos && slash > colon))
    return "";
  return selector.substr(colon + 1);
}

}  // namespace

Result<ImagePlan> plan_oci(const ImageSource& src,
                           const std::string& selector) {
  const Json index =
      VMRUN_TRY(parse_json(VMRUN_TRY(src.read("index.json")), "index.json"));
  const auto top = VMRUN_TRY(manifests_of(index, "index.json"));
  if (top.empty()) return input_error(src.display() + " holds no image");
  std::vector<std::string> names;
  for (const auto& d : top) {
    if (std::find(names.begin(), names.end(), d.name()) == names.end())
      names.push_back(d.name());
  }
  std::vector<Descriptor> chosen;
  if (selector.empty()) {
    chosen = top;
  } else {
    for (const auto& d : top) {
      if (same_name(selector, d.image_name) || same_name(selector, d.ref_name))
        chosen.push_back(d);
    }
    const bool exact = !chosen.empty();
    for (const auto& d : top) {
      if (!exact && d.image_name.empty() && !d.ref_name.empty() &&
          d.ref_name == tag_of(selector)) {
        chosen.push_back(d);
      }
    }
    if (chosen.empty()) {
      return input_error(src.display() + " has no image " +
                         printable(selector) + "; it holds " +
                         join_names(names));
    }
  }
  // Several entries for one name, each with a platform, are one
  // multi-platform image; differently named ones are different images.
  bool one_image = true;
  for (const auto& d : chosen) {
    one_image = one_image && (d.has_platform() || d.attestation) &&
                d.label() == chosen[0].label();
  }
  if (chosen.size() > 1 && !one_image) {
    return input_error(src.display() + " holds " +
                       std::to_string(names.size()) +
                       " images; pick one with " + src.display() +
                       ":NAME:TAG: " + join_names(names));
  }
  const Descriptor pick = chosen.size() == 1
                              ? chosen[0]
                              : VMRUN_TRY(pick_platform(chosen, src.display()));
  ImagePlan plan = VMRUN_TRY(resolve(src, pick, 0));
  plan.name = chosen[0].label();
  return plan;
}

std::string short_name(const std::string& name) {
  for (std::string_view prefix : {"docker.io/library/", "docker.io/"}) {
    if (name.starts_with(prefix)) return name.substr(prefix.size());
  }
  return name;
}

bool same_name(const std::string& a, const std::string& b) {
  return !a.empty() && !b.empty() && short_name(a) == short_name(b);
}

std::string join_names(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + printable(n);
  return out;
}

}  // namespace vmrun::rootfs
