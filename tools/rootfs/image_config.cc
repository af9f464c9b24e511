#include "tools/rootfs/image_config.h"

#include "tools/rootfs/errors.h"
#include "tools/rootfs/json.h"

namespace vmrun::rootfs {

Result<OciConfig> parse_oci_config(std::string_view text) {
  constexpr std::string_view kWhat = "the image config";
  Json j = VMRUN_TRY(parse_json(text, kWhat));
  if (!j.is_object()) return input_error("the image config is not an object");
  OciConfig c;
  c.os = string_member(j, "os").value_or("");
  c.architecture = string_member(j, "architecture").value_or("");
  c.variant = string_member(j, "variant").value_or("");
  const Json* cfg = member(j, "config");
  if (!cfg || cfg->is_null()) return c;
  if (!cfg->is_object())
    return input_error("the image config's config is not an object");
  c.entrypoint = VMRUN_TRY(strings_member(*cfg, "Entrypoint", kWhat));
  c.cmd = VMRUN_TRY(strings_member(*cfg, "Cmd", kWhat));
  c.env = VMRUN_TRY(strings_member(*cfg, "Env", kWhat));
  c.workdir = string_member(*cfg, "WorkingDir").value_or("");
  c.user = string_member(*cfg, "User").value_or("");
  return c;
}

Result<void> check_platform(const OciConfig& c, const std::string& image) {
  const std::string os = c.os.empty() ? "linux" : c.os;
  const std::string arch = c.architecture.empty() ? "amd64" : c.architecture;
  if (os == "linux" && arch == "amd64") return ok();
  return input_error(image + " is an image for " + os + "/" + arch +
                     "; vmrun runs linux/amd64");
}

std::string percent_encode(std::string_view value) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char ch : value) {
    auto c = static_cast<unsigned char>(ch);
    const bool plain =
        (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
        (c >= '0' && c <= '9') ||
        std::string_view("._/:@+=-").find(ch) != std::string_view::npos;
    if (plain) {
      out += ch;
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string render_config(const OciConfig& c, const std::string& digest,
                          const std::string& name) {
  std::string out;
  auto line = [&](std::string_view key, std::string_view value) {
    out.append(key).append(" ").append(percent_encode(value)).append("\n");
  };
  line("arch", c.architecture.empty() ? "amd64" : c.architecture);
  line("digest", digest);
  if (!name.empty()) line("name", name);
  for (const auto& a : c.entrypoint) line("entrypoint", a);
  for (const auto& a : c.cmd) line("cmd", a);
  for (const auto& e : c.env) line("env", e);
  if (!c.workdir.empty()) line("workdir", c.workdir);
  if (!c.user.empty()) line("user", c.user);
  return out;
}

}  // namespace vmrun::rootfs
