// Bounded JSON reading for image metadata: size and nesting are checked
// before nlohmann parses it, and nothing here throws.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "vmm/result.h"

namespace vmrun::rootfs {

using Json = nlohmann::json;

inline constexpr size_t kMaxJsonBytes = 1 << 20;
inline constexpr int kMaxJsonDepth = 64;

// `what` names the document in errors ("index.json").
Result<Json> parse_json(std::string_view text, std::string_view what);

// obj[key] when obj is an object holding key, else nullptr.
const Json* member(const Json& obj, const char* key);
std::optional<std::string> string_member(const Json& obj, const char* key);
// A list of strings; null or missing is empty, anything else an error.
Result<std::vector<std::string>> strings_member(const Json& obj,
                                                const char* key,
                                                std::string_view what);

}  // namespace vmrun::rootfs
