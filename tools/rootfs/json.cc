#include "tools/rootfs/json.h"

#include "tools/rootfs/errors.h"

namespace vmrun::rootfs {

namespace {

// Nesting depth outside strings: nlohmann's values nest as deep as the
// text does, and each level is stack in places.
int max_depth(std::string_view text) {
  int depth = 0, deepest = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      deepest = std::max(deepest, ++depth);
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  return deepest;
}

}  // namespace

Result<Json> parse_json(std::string_view text, std::string_view what) {
  if (text.size() > kMaxJsonBytes) {
    return input_error(std::string(what) + " is larger than 1 MiB");
  }
  if (max_depth(text) > kMaxJsonDepth) {
    return input_error(std::string(what) + " is nested too deeply");
  }
  Json j = Json::parse(text.begin(), text.end(), nullptr, false);
  if (j.is_discarded()) {
    return input_error(std::string(what) + " is not valid JSON");
  }
  return j;
}

const Json* member(const Json& obj, const char* key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  return it == obj.end() ? nullptr : &*it;
}

std::optional<std::string> string_member(const Json& obj, const char* key) {
  const Json* v = member(obj, key);
  if (!v || !v->is_string()) return std::nullopt;
  return v->get<std::string>();
}

Result<std::vector<std::string>> strings_member(const Json& obj,
                                                const char* key,
                                                std::string_view what) {
  std::vector<std::string> out;
  const Json* v = member(obj, key);
  if (!v || v->is_null()) return out;
  if (!v->is_array()) {
    return input_error(std::string(what) + ": " + key +
                       " is not a list of strings");
  }
  for (const Json& s : *v) {
    if (!s.is_string()) {
      return input_error(std::string(what) + ": " + key +
                         " is not a list of strings");
    }
    out.push_back(s.get<std::string>());
  }
  return out;
}

}  // namespace vmrun::rootfs
