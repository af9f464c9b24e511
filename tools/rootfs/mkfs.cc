#include "tools/rootfs/mkfs.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <vector>

#include "tools/rootfs/errors.h"
#include "vmm/unique_fd.h"

extern char** environ;

namespace vmrun::rootfs {
namespace {

// Runs argv with stdin `in` (or /dev/null), stdout to /dev/null and
// stderr to the file `err`.
Result<pid_t> spawn(const std::vector<std::string>& argv, int in,
                    const std::string& err) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  if (in >= 0) {
    posix_spawn_file_actions_adddup2(&fa, in, 0);
  } else {
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  }
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, err.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0600);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, args[0], &fa, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) return Error::from_errno("cannot run " + argv[0], rc);
  return pid;
}

int wait_for(pid_t pid) {
  int st = 0;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

// The last non-empty line mke2fs wrote: why it failed.
std::string last_line(const std::string& file) {
  std::string text, line, last;
  if (FILE* f = std::fopen(file.c_str(), "re")) {
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0 &&
           text.size() < (1 << 20))
      text.append(buf, n);
    std::fclose(f);
  }
  for (char c : text + "\n") {
    if (c != '\n') {
      line += c;
    } else if (!line.empty()) {
      last = std::move(line);
      line.clear();
    }
  }
  return last;
}

Result<void> check_version(const std::string& mke2fs,
                           const std::string& scratch) {
  const std::string out = scratch + "/mke2fs-version";
  pid_t pid = VMRUN_TRY(spawn({mke2fs, "-V"}, -1, out));
  wait_for(pid);
  // -V prints "mke2fs 1.47.2 (1-Jan-2025)", then the library's version.
  int major = 0, minor = 0, patch = 0;
  if (std::FILE* f = std::fopen(out.c_str(), "re")) {
    if (std::fscanf(f, "mke2fs %d.%d.%d", &major, &minor, &patch) < 2)
      major = 0;
    std::fclose(f);
  }
  unlink(out.c_str());
  if (major * 10000 + minor * 100 + patch < 14701) {
    return Error(mke2fs +
                 " is older than e2fsprogs 1.47.1, which reads a tar "
                 "(mke2fs -d); ./setup installs it from bookworm-backports");
  }
  return ok();
}

}  // namespace

Result<std::string> find_mke2fs(const std::string& scratch) {
  std::string found;
  if (const char* env = std::getenv("VMRUN_MKE2FS"); env && *env) {
    found = env;
  } else {
    std::string path = std::getenv("PATH") ? std::getenv("PATH") : "";
    path += ":/usr/sbin:/sbin";
    size_t start = 0;
    while (found.empty() && start <= path.size()) {
      size_t colon = path.find(':', start);
      if (colon == std::string::npos) colon = path.size();
      std::string dir = path.substr(start, colon - start);
      start = colon + 1;
      if (dir.empty()) continue;
      std::string candidate = dir + "/mke2fs";
      if (access(candidate.c_str(), X_OK) == 0) found = candidate;
    }
  }
  if (found.empty())
    return Error("mke2fs not found (e2fsprogs; ./setup installs it)");
  VMRUN_TRY(check_version(found, scratch));
  return found;
}

Result<void> make_ext4(const std::string& mke2fs, const std::string& image,
                       const ImageSize& size, const std::string& scratch,
                       const std::function<Result<void>(int fd)>& write_tar) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return Error::from_errno("pipe");
  UniqueFd read_end(fds[0]), write_end(fds[1]);
  const std::string err = scratch + "/mke2fs.log";
  // No journal and no reserved blocks: the guest mounts the image read-
  // only under an overlay. -F: never a question (stdin is the tar).
  const std::vector<std::string> argv = {
      mke2fs,
      "-q",
      "-F",
      "-t",
      "ext4",
      "-b",
      "4096",
      "-I",
      "256",
      "-N",
      std::to_string(size.inodes),
      "-m",
      "0",
      "-O",
      "^has_journal",
      "-E",
      "root_owner=0:0",
      "-d",
      "-",
      image,
      std::to_string(size.bytes / 1024) + "k"};
  pid_t pid = VMRUN_TRY(spawn(argv, read_end.get(), err));
  read_end.reset();
  Result<void> wrote = write_tar(write_end.get());
  write_end.reset();  // mke2fs sees the end of the tar
  const int status = wait_for(pid);
  // A tar that broke off because of the input is the input's fault, and
  // mke2fs then fails too; say why the tar broke off.
  if (!wrote.ok() && is_input_error(wrote.error())) return wrote.error();
  if (status != 0) {
    std::string why = last_line(err);
    return Error("mke2fs failed (status " + std::to_string(status) + ")" +
                 (why.empty() ? "" : ": " + why));
  }
  if (!wrote.ok()) return wrote.error();
  return ok();
}

}  // namespace vmrun::rootfs
