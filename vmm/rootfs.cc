#include "vmm/rootfs.h"

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <sstream>

#include "vmm/unique_fd.h"

extern char** environ;

namespace vmrun {
namespace {

constexpr size_t kMaxDisks = 16;              // as for -d (vmm/cli.cc)
constexpr size_t kMaxConfigBytes = 1 << 20;   // vmrun-rootfs bounds it too
constexpr size_t kMaxToolOutput = 64 * 1024;  // a path and one error line
constexpr const char* kRootfsTag = "vmrun-rootfs";

Result<std::string> percent_decode(const std::string& text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out += text[i];
      continue;
    }
    if (i + 2 >= text.size() || !isxdigit(static_cast<unsigned char>(text[i + 1])) ||
        !isxdigit(static_cast<unsigned char>(text[i + 2]))) {
      return Error("bad percent-encoding in '" + text + "'");
    }
    out += static_cast<char>(std::stoi(text.substr(i + 1, 2), nullptr, 16));
    i += 2;
  }
  return out;
}

// Reads a whole small file; fails beyond `limit` bytes.
Result<std::string> read_small_file(const std::string& path, size_t limit) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (!fd.valid()) return Error::from_errno("cannot open " + path);
  std::string out;
  char buf[8192];
  for (;;) {
    ssize_t n = read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error::from_errno("cannot read " + path);
    if (n == 0) return out;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > limit) return Error(path + " is too large");
  }
}

struct ToolResult {
  int status = 0;
  std::string out;
  std::string err;
};

// Runs argv with stdout and stderr captured (bounded), stdin /dev/null.
Result<ToolResult> run_tool(const std::vector<std::string>& argv) {
  int out_pipe[2], err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0) return Error::from_errno("pipe");
  UniqueFd out_r(out_pipe[0]), out_w(out_pipe[1]);
  if (pipe2(err_pipe, O_CLOEXEC) != 0) return Error::from_errno("pipe");
  UniqueFd err_r(err_pipe[0]), err_w(err_pipe[1]);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, out_w.get(), 1);
  posix_spawn_file_actions_adddup2(&fa, err_w.get(), 2);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid;
  int rc = posix_spawn(&pid, args[0], &fa, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) {
    errno = rc;
    return Error::from_errno("cannot run " + argv[0]);
  }
  out_w.reset();
  err_w.reset();
  ToolResult r;
  std::array<pollfd, 2> fds{{{out_r.get(), POLLIN, 0}, {err_r.get(), POLLIN, 0}}};
  std::array<std::string*, 2> sinks{&r.out, &r.err};
  int open_fds = 2;
  while (open_fds > 0) {
    if (poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (size_t i = 0; i < fds.size(); ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char buf[4096];
      ssize_t n = read(fds[i].fd, buf, sizeof buf);
      if (n <= 0) {
        fds[i].fd = -1;
        --open_fds;
      } else if (sinks[i]->size() < kMaxToolOutput) {
        sinks[i]->append(buf, static_cast<size_t>(n));
      }
    }
  }
  int st = 0;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  return r;
}

std::string last_line(std::string text) {
  while (!text.empty() && text.back() == '\n') text.pop_back();
  size_t nl = text.rfind('\n');
  return nl == std::string::npos ? text : text.substr(nl + 1);
}

}  // namespace

Result<ImageConfig> parse_image_config(const std::string& text) {
  ImageConfig c;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    size_t sp = line.find(' ');
    std::string key = line.substr(0, sp);
    std::string value = VMRUN_TRY(percent_decode(sp == std::string::npos ? "" : line.substr(sp + 1)));
    if (key == "arch") c.arch = value;
    else if (key == "name") c.name = value;
    else if (key == "entrypoint") c.entrypoint.push_back(value);
    else if (key == "cmd") c.cmd.push_back(value);
    else if (key == "env") c.env.push_back(value);
    else if (key == "workdir") c.workdir = value;
    else if (key == "user") c.user = value;
    // digest and keys of later versions: not needed here.
  }
  return c;
}

Result<RootfsKind> rootfs_kind(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return Error::from_errno("--rootfs: cannot open '" + path + "'");
  if (S_ISDIR(st.st_mode)) {
    // An OCI image layout is a directory too.
    return access((path + "/oci-layout").c_str(), F_OK) == 0 ? RootfsKind::kImageArchive
                                                             : RootfsKind::kDirectory;
  }
  if (!S_ISREG(st.st_mode)) return Error("--rootfs: '" + path + "' is not a file or directory");
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (!fd.valid()) return Error::from_errno("--rootfs: cannot open '" + path + "'");
  std::array<unsigned char, 1082> head{};
  ssize_t n = pread(fd.get(), head.data(), head.size(), 0);
  if (n < 0) return Error::from_errno("--rootfs: cannot read '" + path + "'");
  const size_t got = static_cast<size_t>(n);
  if (got >= 1082 && head[1080] == 0x53 && head[1081] == 0xef) return RootfsKind::kExt4;
  const bool tar = got >= 262 && std::memcmp(&head[257], "ustar", 5) == 0;
  const bool gzip = got >= 2 && head[0] == 0x1f && head[1] == 0x8b;
  const bool zstd = got >= 4 && head[0] == 0x28 && head[1] == 0xb5 && head[2] == 0x2f && head[3] == 0xfd;
  if (tar || gzip || zstd) return RootfsKind::kImageArchive;
  return Error("--rootfs: '" + path +
               "' is neither an ext4 image, a directory, nor an OCI or docker image archive");
}

Result<void> resolve_rootfs(VmConfig& c, const std::string& converter) {
  RootfsConfig& r = c.rootfs;
  std::string spec = r.spec;
  if (spec.size() > 3 && spec.compare(spec.size() - 3, 3, ",rw") == 0) {
    r.rw = true;
    spec.resize(spec.size() - 3);
  }
  // PATH[:NAME:TAG]: the selector only where PATH itself does not exist.
  std::string path = spec, selector;
  if (access(path.c_str(), F_OK) != 0) {
    for (size_t colon = spec.find(':'); colon != std::string::npos; colon = spec.find(':', colon + 1)) {
      if (access(spec.substr(0, colon).c_str(), F_OK) == 0) {
        path = spec.substr(0, colon);
        selector = spec.substr(colon);
        break;
      }
    }
  }
  RootfsKind kind = VMRUN_TRY(rootfs_kind(path));
  if (r.rw && kind != RootfsKind::kExt4) {
    return Error("--rootfs " + r.spec + ": only an ext4 image can be written through (,rw)");
  }
  if (!selector.empty() && kind != RootfsKind::kImageArchive) {
    return Error("--rootfs " + r.spec + ": NAME:TAG picks an image in an image archive; '" + path +
                 "' is not one");
  }
  std::optional<ImageConfig> image;
  std::string disk = path;
  if (kind == RootfsKind::kImageArchive) {
    ToolResult t = VMRUN_TRY(run_tool({converter, path + selector}));
    if (t.status != 0) {
      std::string why = last_line(t.err);
      if (why.rfind("vmrun-rootfs: ", 0) == 0) why = why.substr(14);
      return Error("--rootfs: " + (why.empty() ? "vmrun-rootfs failed" : why));
    }
    const std::string entry = last_line(t.out);
    disk = entry + "/rootfs.ext4";
    image = VMRUN_TRY(parse_image_config(VMRUN_TRY(read_small_file(entry + "/config", kMaxConfigBytes))));
    if (!image->arch.empty() && image->arch != "amd64") {
      return Error("--rootfs: " + path + " is an image for " + image->arch + "; vmrun runs amd64");
    }
  }
  if (kind == RootfsKind::kDirectory) {
    for (const auto& s : c.shares) {
      if (s.tag == kRootfsTag) return Error("--9p: tag '" + s.tag + "' is reserved for --rootfs");
    }
    ShareConfig share;
    share.dir = path;
    share.tag = kRootfsTag;
    share.read_only = true;  // the guest writes to an overlay in its RAM
    share.rootfs = true;
    c.shares.push_back(share);
    r.device = std::string("9p:") + kRootfsTag;
  } else {
    if (c.disks.size() >= kMaxDisks) return Error("--rootfs: at most " + std::to_string(kMaxDisks) + " disks");
    c.disks.push_back({disk, !r.rw, false});
    r.device = std::string("vd") + static_cast<char>('a' + c.disks.size() - 1);
  }
  if (!image) return ok();
  // docker run semantics: a command replaces Cmd, Entrypoint stays. A job
  // image brings its own command (run) and directory (/job).
  r.env = image->env;
  if (!c.has_job_image && !r.init) {
    r.cwd = image->workdir;
    r.user = image->user;
    std::vector<std::string> argv = image->entrypoint;
    const auto& rest = c.command.empty() ? image->cmd : c.command;
    argv.insert(argv.end(), rest.begin(), rest.end());
    if (argv.empty()) {
      return Error("--rootfs: " + path +
                   " has no Entrypoint or Cmd: give a command (vmrun --rootfs IMAGE -- COMMAND)");
    }
    c.command = std::move(argv);
  }
  return ok();
}

}  // namespace vmrun
