// SHA-256 (OpenSSL's EVP) and OCI digests. A digest names a blob file, so
// it is checked to be exactly "sha256:" and 64 lowercase hex digits before
// it becomes part of a path.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "vmm/result.h"

namespace vmrun::rootfs {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void update(const void* data, size_t size);
  std::string hex();  // finishes; call once

 private:
  struct Ctx;
  std::unique_ptr<Ctx> ctx_;
};

std::string sha256_hex(std::string_view data);
bool is_sha256_hex(std::string_view hex);
// "sha256:HEX" -> HEX; anything else (another algorithm, a path) is refused.
Result<std::string> digest_hex(std::string_view digest);

}  // namespace vmrun::rootfs
