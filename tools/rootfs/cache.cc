#include "tools/rootfs/cache.h"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <ctime>
#include <vector>

#include "tools/rootfs/errors.h"
#include "tools/rootfs/sha256.h"

namespace vmrun::rootfs {
namespace {

// A build dir nobody holds, or a stray file in tmp/, is left over from a
// process that died; younger ones may be a process just starting.
constexpr time_t kStaleSeconds = 600;
constexpr time_t kRecentlyUsedSeconds = 60;

Result<void> make_dir(const std::string& path) {
  if (mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) {
    return Error::from_errno("cannot create the cache directory " + path);
  }
  return ok();
}

Result<void> make_dirs(const std::string& path) {
  for (size_t slash = path.find('/', 1); slash != std::string::npos;
       slash = path.find('/', slash + 1)) {
    VMRUN_TRY(make_dir(path.substr(0, slash)));
  }
  return make_dir(path);
}

std::vector<std::string> list_dir(const std::string& path) {
  std::vector<std::string> out;
  if (DIR* d = opendir(path.c_str())) {
    while (dirent* e = readdir(d)) {
      if (std::strcmp(e->d_name, ".") && std::strcmp(e->d_name, ".."))
        out.push_back(e->d_name);
    }
    closedir(d);
  }
  return out;
}

std::string read_small(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd.valid()) return "";
  char buf[128];
  ssize_t n = ::read(fd.get(), buf, sizeof buf);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
}

int remove_one(const char* path, const struct stat*, int, struct FTW*) {
  ::remove(path);
  return 0;
}

uint64_t disk_usage(const std::string& dir) {
  uint64_t bytes = 0;
  for (const auto& name : list_dir(dir)) {
    struct stat st;
    if (lstat((dir + "/" + name).c_str(), &st) == 0)
      bytes += static_cast<uint64_t>(st.st_blocks) * 512;
  }
  return bytes;
}

}  // namespace

void remove_tree(const std::string& path) {
  nftw(path.c_str(), remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

BuildDir::BuildDir(std::string path, UniqueFd lock)
    : path_(std::move(path)), lock_(std::move(lock)) {}

BuildDir::~BuildDir() {
  if (!path_.empty() && lock_.valid()) remove_tree(path_);
}

Result<Cache> Cache::open(const std::string& dir) {
  Cache c;
  c.dir_ = dir;
  VMRUN_TRY(make_dirs(dir));
  for (const char* part : {"/index", "/locks", "/tmp"})
    VMRUN_TRY(make_dir(dir + part));
  return c;
}

std::optional<std::string> Cache::find(const std::string& hex) const {
  const std::string entry = entry_path(hex);
  if (access((entry + "/rootfs.ext4").c_str(), F_OK) != 0) return std::nullopt;
  const std::string used = entry + "/used";
  if (utimensat(AT_FDCWD, used.c_str(), nullptr, 0) != 0) {
    UniqueFd fd(::open(used.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
  }
  return entry;
}

std::optional<std::string> Cache::find_input(const std::string& key) const {
  std::string hex = read_small(dir_ + "/index/" + key);
  if (!hex.empty() && hex.back() == '\n') hex.pop_back();
  if (!is_sha256_hex(hex)) return std::nullopt;
  return find(hex);
}

Result<void> Cache::remember_input(const std::string& key,
                                   const std::string& hex) const {
  std::string tmp = dir_ + "/tmp/index.XXXXXX";
  UniqueFd fd(mkstemp(tmp.data()));
  if (!fd.valid())
    return Error::from_errno("cannot create a file in " + dir_ + "/tmp");
  const std::string text = hex + "\n";
  if (::write(fd.get(), text.data(), text.size()) !=
          static_cast<ssize_t>(text.size()) ||
      rename(tmp.c_str(), (dir_ + "/index/" + key).c_str()) != 0) {
    Error e = Error::from_errno("cannot write the cache index in " + dir_);
    unlink(tmp.c_str());
    return e;
  }
  return ok();
}

Result<BuildDir> Cache::begin_build() const {
  sweep_builds();
  std::string path = dir_ + "/tmp/build.XXXXXX";
  if (!mkdtemp(path.data()))
    return Error::from_errno("cannot create a directory in " + dir_ + "/tmp");
  UniqueFd lock(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!lock.valid() || flock(lock.get(), LOCK_EX | LOCK_NB) != 0) {
    Error e = Error::from_errno("cannot lock " + path);
    rmdir(path.c_str());
    return e;
  }
  BuildDir b(path, std::move(lock));
  if (mkdir(b.entry().c_str(), 0755) != 0)
    return Error::from_errno("cannot create " + b.entry());
  return b;
}

Result<UniqueFd> Cache::lock(const std::string& hex) const {
  const std::string path = dir_ + "/locks/" + hex + ".lock";
  UniqueFd fd(
      ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644));
  if (!fd.valid()) return Error::from_errno("cannot open " + path);
  while (flock(fd.get(), LOCK_EX) != 0) {
    if (errno != EINTR) return Error::from_errno("cannot lock " + path);
  }
  return fd;
}

Result<std::string> Cache::publish(const BuildDir& build,
                                   const std::string& hex) const {
  const std::string entry = entry_path(hex);
  if (rename(build.entry().c_str(), entry.c_str()) == 0) return entry;
  if (errno == EEXIST || errno == ENOTEMPTY) {
    if (auto other = find(hex)) return *other;
  }
  return Error::from_errno("cannot move " + build.entry() + " to " + entry);
}

void Cache::sweep_builds() const {
  const time_t now = time(nullptr);
  for (const auto& name : list_dir(dir_ + "/tmp")) {
    const std::string path = dir_ + "/tmp/" + name;
    struct stat st;
    if (lstat(path.c_str(), &st) != 0 || now - st.st_mtime < kStaleSeconds)
      continue;
    if (!S_ISDIR(st.st_mode)) {
      unlink(path.c_str());
      continue;
    }
    UniqueFd fd(
        ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (fd.valid() && flock(fd.get(), LOCK_EX | LOCK_NB) == 0)
      remove_tree(path);
  }
}

void Cache::evict(uint64_t max_bytes, const std::string& keep) const {
  struct Entry {
    std::string hex;
    uint64_t bytes;
    time_t used;
  };
  std::vector<Entry> entries;
  uint64_t total = 0;
  for (const auto& name : list_dir(dir_)) {
    if (!is_sha256_hex(name)) continue;
    const std::string path = entry_path(name);
    struct stat st;
    if (stat((path + "/used").c_str(), &st) != 0 &&
        stat(path.c_str(), &st) != 0)
      continue;
    entries.push_back({name, disk_usage(path), st.st_mtime});
    total += entries.back().bytes;
  }
  if (total <= max_bytes) return;
  std::sort(entries.begin(), entries.end(),
            [](const Entry& a, const Entry& b) { return a.used < b.used; });
  const time_t now = time(nullptr);
  for (const auto& e : entries) {
    if (total <= max_bytes) break;
    if (e.hex == keep || now - e.used < kRecentlyUsedSeconds) continue;
    // Not while another process builds or is handing it out.
    const std::string lock_path = dir_ + "/locks/" + e.hex + ".lock";
    UniqueFd lock(::open(lock_path.c_str(),
                         O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644));
    if (!lock.valid() || flock(lock.get(), LOCK_EX | LOCK_NB) != 0) continue;
    // Out of sight at once (rename), then removed.
    const std::string doomed =
        dir_ + "/tmp/evict." + e.hex + "." + std::to_string(getpid());
    if (rename(entry_path(e.hex).c_str(), doomed.c_str()) != 0) continue;
    remove_tree(doomed);
    unlink(lock_path.c_str());
    total -= std::min(total, e.bytes);
  }
  // Index entries of evicted images.
  for (const auto& key : list_dir(dir_ + "/index")) {
    std::string hex = read_small(dir_ + "/index/" + key);
    if (!hex.empty() && hex.back() == '\n') hex.pop_back();
    if (!is_sha256_hex(hex) || access(entry_path(hex).c_str(), F_OK) != 0) {
      unlink((dir_ + "/index/" + key).c_str());
    }
  }
}

Result<std::string> input_key(const std::string& path,
                              const std::string& selector) {
  char real[PATH_MAX];
  if (!realpath(path.c_str(), real)) {
    return input_error("cannot open " + path + ": " + std::strerror(errno));
  }
  struct stat st;
  if (stat(real, &st) != 0)
    return input_error("cannot open " + path + ": " + std::strerror(errno));
  // A layout directory changes by its index.json (blobs are named by
  // their digests).
  if (S_ISDIR(st.st_mode) &&
      stat((std::string(real) + "/index.json").c_str(), &st) != 0) {
    return input_error(
        path + " is a directory but not an OCI image layout (no index.json)");
  }
  const std::string key =
      std::string("vmrun-rootfs 1\n") + real + "\n" +
      std::to_string(st.st_dev) + " " + std::to_string(st.st_ino) + " " +
      std::to_string(st.st_size) + " " + std::to_string(st.st_mtim.tv_sec) +
      "." + std::to_string(st.st_mtim.tv_nsec) + "\n" + selector;
  return sha256_hex(key);
}

}  // namespace vmrun::rootfs
