// The client's side of 9P2000.L for tests of devices/p9: builds T-messages
// byte by byte (independently of the server's own codec), sends them to a
// p9::Server and parses the replies. Header-only, no GoogleTest, so the
// fuzzer can use it too. This is the header to include: it brings the
// wire encoding (p9_client_wire.h) and P9Client (p9_client_calls.h), and
// holds P9Share, a served share with a client attached.
//
//   P9Share s;                          // tmp/share (served), tmp/outside
//   s.c.walk(P9Share::kRoot, 1, {"dir", "file"});
//   s.c.lopen(1, O_RDONLY);
//   std::string data;
//   s.c.read(1, 0, 4096, &data);
//
// Every call returns 0 on success, the errno of an Rlerror, or kBadReply
// when the reply is malformed (wrong size field, tag or type, short body).
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <span>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "devices/p9/server.h"
#include "tests/support/p9_client_calls.h"
#include "tests/support/p9_client_wire.h"
#include "tests/support/temp_dir.h"

namespace vmrun::test_support {

// A share for one test: tmp/share is served (read-only if asked), beside it
// tmp/outside holds `secret`, which no request may ever reach. The session
// is negotiated (msize 64 KiB) and attached as fid kRoot.
class P9Share {
 public:
  static constexpr uint32_t kRoot = 0;

  explicit P9Share(bool read_only = false, bool attach = true)
      : share(init(tmp_.path())),
        outside(tmp_.path() + "/outside"),
        server(make(share, read_only)),
        c(*server) {
    if (attach && (c.version(65536, "9P2000.L") != 0 || c.attach(kRoot) != 0)) {
      throw std::runtime_error("p9 session setup failed");
    }
  }

  // Absolute host path of `rel` inside the share.
  std::string host(const std::string& rel) const { return share + "/" + rel; }
  const std::string& tmp() const { return tmp_.path(); }
  // Host-side file contents inside the share.
  void put(const std::string& rel, std::string_view data) const {
    std::ofstream(host(rel), std::ios::binary | std::ios::trunc) << data;
  }
  std::string get(const std::string& rel) const {
    std::ifstream f(host(rel), std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(f), {});
  }

  // Everything in tmp except the share: names, types, modes, sizes, link
  // counts, change and modification times, contents. Equal snapshots mean
  // nothing outside the share changed.
  std::string outside_snapshot() const {
    std::ostringstream out;
    describe(out, tmp_.path(), ".");
    std::error_code ec;
    for (auto it =
             std::filesystem::recursive_directory_iterator(tmp_.path(), ec);
         !ec && it != std::filesystem::recursive_directory_iterator();
         it.increment(ec)) {
      const std::string p = it->path().string();
      if (p == share) {
        it.disable_recursion_pending();
        continue;
      }
      describe(out, p, p.substr(tmp_.path().size()));
    }
    return out.str();
  }

 private:
  static std::string init(const std::string& tmp) {
    const std::string s = tmp + "/share", o = tmp + "/outside";
    if (::mkdir(s.c_str(), 0755) != 0 || ::mkdir(o.c_str(), 0755) != 0) {
      throw std::runtime_error("mkdir failed");
    }
    std::ofstream(o + "/secret") << "secret";
    return s;
  }
  static std::unique_ptr<devices::p9::Server> make(const std::string& dir,
                                                   bool ro) {
    auto s = devices::p9::Server::create(dir, ro);
    if (!s) throw std::runtime_error(s.error().message());
    return std::move(s).value();
  }
  static void describe(std::ostream& out, const std::string& path,
                       const std::string& label) {
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) {
      out << label << ": gone\n";
      return;
    }
    out << label << ": mode " << std::oct << st.st_mode << std::dec << " size "
        << st.st_size << " nlink " << st.st_nlink << " uid " << st.st_uid
        << " mtime " << st.st_mtim.tv_sec << "." << st.st_mtim.tv_nsec
        << " ctime " << st.st_ctim.tv_sec << "." << st.st_ctim.tv_nsec;
    if (S_ISREG(st.st_mode)) {
      std::ifstream f(path, std::ios::binary);
      out << " data " << std::string(std::istreambuf_iterator<char>(f), {});
    }
    out << "\n";
  }

  TempDir tmp_;

 public:
  const std::string share, outside;
  std::unique_ptr<devices::p9::Server> server;
  P9Client c;
};

}  // namespace vmrun::test_support
