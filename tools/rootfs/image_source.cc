#include "tools/rootfs/image_source.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include "tools/rootfs/errors.h"
#include "tools/rootfs/json.h"
#include "tools/rootfs/sha256.h"
#include "vmm/unique_fd.h"

namespace vmrun::rootfs {
namespace {

constexpr uint64_t kMaxMembers = 1'000'000;
constexpr uint64_t kMaxSmallTotal = 64ull << 20;  // all JSON members together
constexpr size_t kCopyBlock = 256 * 1024;

// A member name as a key: "./blobs//x" and "blobs/x" are one member.
std::string member_key(const std::string& raw) {
  auto parts = split_entry_path(raw, "member");
  return parts.ok() ? join_path(*parts) : std::string();
}

Result<void> write_all(int fd, const char* p, size_t n,
                       const std::string& path) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return Error::from_errno("cannot write " + path);
    p += w;
    n -= static_cast<size_t>(w);
  }
  return ok();
}

}  // namespace

std::string blob_name(const std::string& hex) { return "blobs/sha256/" + hex; }

Error digest_mismatch(const std::string& hex) {
  return input_error("blob sha256:" + hex + " does not match its digest");
}

Result<ImageSource> ImageSource::open(const std::string& path,
                                      const std::string& display) {
  ImageSource s;
  s.path_ = path;
  s.display_ = display;
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    return input_error("cannot open " + display + ": " + std::strerror(errno));
  }
  if (S_ISDIR(st.st_mode)) {
    s.directory_ = true;
    if (!s.has("oci-layout") || !s.has("index.json")) {
      return input_error(display +
                         " is a directory but not an OCI image layout "
                         "(no oci-layout and index.json)");
    }
    return s;
  }
  if (!S_ISREG(st.st_mode)) return input_error(display + " is not a file");
  VMRUN_TRY(s.scan_archive());
  return s;
}

Result<void> ImageSource::scan_archive() {
  auto opened = open_tar({path_, {}});
  if (!opened.ok()) {
    return input_error(display_ +
                       " is not an image archive (OCI or docker save): " +
                       plain_message(opened.error()));
  }
  ReadArchive a = std::move(opened).value();
  archive_entry* e = nullptr;
  uint64_t count = 0, small_total = 0;
  for (;;) {
    int rc = archive_read_next_header(a.get(), &e);
    if (rc == ARCHIVE_EOF) break;
    if (rc < ARCHIVE_WARN || rc == ARCHIVE_RETRY) {
      return input_error(display_ + ": " + archive_message(a.get()));
    }
    if (++count > kMaxMembers)
      return input_error(display_ + " has too many members");
    const char* name = archive_entry_pathname(e);
    std::string key = name ? member_key(name) : "";
    if (key.empty() || archive_entry_filetype(e) != AE_IFREG) continue;
    const int64_t size = archive_entry_size(e);
    members_[key] = static_cast<uint64_t>(std::max<int64_t>(size, 0));
    small_.erase(key);
    if (size <= 0 || static_cast<uint64_t>(size) > kMaxJsonBytes) continue;
    std::string data(static_cast<size_t>(size), '\0');
    if (archive_read_data(a.get(), data.data(), data.size()) != size) {
      return input_error(display_ + ": " + archive_message(a.get()));
    }
    // Only what may be JSON is kept: layers are tar or compressed.
    size_t first = data.find_first_not_of(" \t\r\n");
    if (first == std::string::npos ||
        (data[first] != '{' && data[first] != '['))
      continue;
    small_total += data.size();
    if (small_total > kMaxSmallTotal) {
      return input_error(display_ + " holds more than 64 MiB of JSON");
    }
    small_[key] = std::move(data);
  }
  if (count == 0) return input_error(display_ + " is an empty archive");
  return ok();
}

bool ImageSource::has(const std::string& name) const {
  if (!directory_) return members_.count(name) != 0;
  return access((path_ + "/" + name).c_str(), F_OK) == 0;
}

Result<std::string> ImageSource::read(const std::string& name) const {
  if (!directory_) {
    auto it = small_.find(name);
    if (it != small_.end()) return it->second;
    if (members_.count(name) == 0)
      return input_error(display_ + " has no " + quote(name));
    return input_error(display_ + ": " + quote(name) +
                       " is not a JSON document of at most 1 MiB");
  }
  const std::string file = path_ + "/" + name;
  UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (!fd.valid()) {
    return input_error(display_ + " has no readable " + quote(name) + ": " +
                       std::strerror(errno));
  }
  struct stat st;
  if (fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
    return input_error(display_ + ": " + quote(name) + " is not a file");
  }
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error::from_errno("cannot read " + file);
    if (n == 0) return out;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > kMaxJsonBytes) {
      return input_error(display_ + ": " + quote(name) +
                         " is larger than 1 MiB");
    }
  }
}

Result<std::string> ImageSource::read_blob(const std::string& hex) const {
  std::string data = VMRUN_TRY(read(blob_name(hex)));
  if (sha256_hex(data) != hex) return digest_mismatch(hex);
  return data;
}

Result<std::vector<TarInput>> ImageSource::layers(
    const std::vector<LayerBlob>& blobs, const std::string& work_dir,
    uint64_t max_bytes) const {
  std::map<std::string, std::string> files;  // name -> file to read
  for (const auto& b : blobs) {
    if (!has(b.name))
      return input_error(display_ + " has no layer " + quote(b.name));
    files[b.name] = directory_ ? path_ + "/" + b.name : "";
  }
  std::vector<char> buf(kCopyBlock);
  std::map<std::string, std::string> hashes;
  if (directory_) {
    for (const auto& [name, file] : files) {
      UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
      if (!fd.valid())
        return input_error("cannot open " + file + ": " + std::strerror(errno));
      Sha256 h;
      for (;;) {
        ssize_t n = ::read(fd.get(), buf.data(), buf.size());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return Error::from_errno("cannot read " + file);
        if (n == 0) break;
        h.update(buf.data(), static_cast<size_t>(n));
      }
      hashes[name] = h.hex();
    }
  } else {
    // The second pass over the archive: each layer member into a file.
    ReadArchive a = VMRUN_TRY(open_tar({path_, {}}));
    archive_entry* e = nullptr;
    uint64_t total = 0;
    int index = 0;
    for (;;) {
      int rc = archive_read_next_header(a.get(), &e);
      if (rc == ARCHIVE_EOF) break;
      if (rc < ARCHIVE_WARN || rc == ARCHIVE_RETRY) {
        return input_error(display_ + ": " + archive_message(a.get()));
      }
      const char* raw = archive_entry_pathname(e);
      auto it = files.find(raw ? member_key(raw) : "");
      if (it == files.end() || archive_entry_filetype(e) != AE_IFREG) continue;
      if (it->second.empty())
        it->second = work_dir + "/layer" + std::to_string(index++);
      UniqueFd out(::open(it->second.c_str(),
                          O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
      if (!out.valid()) return Error::from_errno("cannot create " + it->second);
      Sha256 h;
      for (;;) {
        la_ssize_t n = archive_read_data(a.get(), buf.data(), buf.size());
        if (n < 0)
          return input_error(display_ + ": " + archive_message(a.get()));
        if (n == 0) break;
        total += static_cast<uint64_t>(n);
        if (total > max_bytes) {
          return input_error(display_ + "'s layers are larger than " +
                             std::to_string(max_bytes) +
                             " bytes (VMRUN_ROOTFS_MAX_BYTES)");
        }
        h.update(buf.data(), static_cast<size_t>(n));
        VMRUN_TRY(write_all(out.get(), buf.data(), static_cast<size_t>(n),
                            it->second));
      }
      hashes[it->first] = h.hex();
    }
  }
  std::vector<TarInput> out;
  for (const auto& b : blobs) {
    if (hashes[b.name] != b.digest_hex) {
      if (b.name == blob_name(b.digest_hex))
        return digest_mismatch(b.digest_hex);
      return input_error("layer " + quote(b.name) +
                         " does not match its digest sha256:" + b.digest_hex);
    }
    out.push_back({files[b.name], {}});
  }
  return out;
}

}  // namespace vmrun::rootfs
