// libFuzzer: p9::Server fed a guest's stream of 9P messages against a real
// share (a temporary directory) with a file, a directory, a FIFO and
// symlinks leading out of it. Input: two bytes choosing the reply room,
// then messages, each behind a u16 length (see the loop: the server sees
// a matching size field unless the length's top bit is set).
// Every input starts a fresh session (Tversion, Tattach, fids 0-6 on the
// seed files) on a share reset to the same contents, so inputs replay
// alike.
//
// Beyond ASan/UBSan, it aborts on a malformed reply (size field, tag, type,
// room) and on any change outside the share: the confinement guarantees
// the fuzzer cannot write anywhere else.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "devices/p9/server.h"
#include "tests/support/p9_client.h"
#include "tests/support/temp_dir.h"

namespace {

namespace fs = std::filesystem;
using vmrun::devices::p9::Server;
using vmrun::test_support::P9Client;
using vmrun::test_support::P9Msg;
using vmrun::test_support::TempDir;

struct Fixture {
  TempDir tmp;
  std::string share = tmp.path() + "/share";
  std::string outside = tmp.path() + "/outside";
  std::unique_ptr<Server> server;
  std::string sentinel;  // how tmp and outside/ looked at the start

  Fixture() {
    fs::create_directory(share);
    fs::create_directory(outside);
    std::ofstream(outside + "/secret") << "secret";
    auto s = Server::create(share, false);
    if (!s) {
      std::fprintf(stderr, "p9 fuzz: %s\n", s.error().message().c_str());
      std::abort();
    }
    server = std::move(s).value();
    sentinel = look_outside();
  }

  // The share back to its seed contents. The guest may have chmod-ed
  // anything (the root too), so permissions are restored first.
  void reset() {
    std::error_code ec;
    fs::permissions(share, fs::perms::owner_all, fs::perm_options::add, ec);
    for (auto it = fs::recursive_directory_iterator(share, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (it->is_directory(ec) && !it->is_symlink(ec)) {
        fs::permissions(it->path(), fs::perms::owner_all, fs::perm_options::add,
                        ec);
      }
    }
    for (const auto& e : fs::directory_iterator(share, ec))
      fs::remove_all(e.path(), ec);
    std::ofstream(share + "/file") << "0123456789abcdef";
    fs::create_directory(share + "/dir");
    std::ofstream(share + "/dir/inner") << "inner";
    fs::create_symlink(outside, share + "/abs", ec);
    fs::create_symlink("../outside/secret", share + "/rel", ec);
    fs::create_symlink("../outside/planted", share + "/dangling", ec);
    ::mkfifo((share + "/fifo").c_str(), 0644);
  }

  // Names, types, sizes, link counts, modes and mtimes beside the share.
  std::string look_outside() const {
    std::string out;
    std::error_code ec;
    for (const std::string& p : {tmp.path(), outside}) {
      for (const auto& e : fs::directory_iterator(p, ec)) {
        struct stat st {};
        ::lstat(e.path().c_str(), &st);
        if (e.path() == share) continue;
        out += e.path().string() + " " + std::to_string(st.st_mode) + " " +
               std::to_string(st.st_size) + " " + std::to_string(st.st_nlink) +
               " " + std::to_string(st.st_mtim.tv_sec) + "." +
               std::to_string(st.st_mtim.tv_nsec) + "\n";
      }
    }
    struct stat st {};
    ::stat(outside.c_str(), &st);
    out += "outside " + std::to_string(st.st_mode) + " " +
           std::to_string(st.st_mtim.tv_nsec);
    return out;
  }
};

Fixture& fixture() {
  static Fixture f;  // for the whole run; removes its directory at exit
  return f;
}

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "p9 fuzz: %s\n", what);
  std::abort();
}

void check_reply(std::span<const uint8_t> req, const std::vector<uint8_t>& r,
                 size_t room) {
  if (r.size() < 7 || r.size() > std::max<size_t>(room, 11))
    fail("reply size out of bounds");
  const uint32_t size = r[0] | r[1] << 8 | r[2] << 16 | uint32_t{r[3]} << 24;
  if (size != r.size()) fail("reply size field wrong");
  if (r[4] == 7) {  // Rlerror
    if (r.size() != 11) fail("Rlerror of the wrong size");
    const uint32_t err = r[7] | r[8] << 8 | r[9] << 16 | uint32_t{r[10]} << 24;
    if (err == 0 || err > 4095) fail("Rlerror without an errno");
    return;
  }
  if (req.size() < 7) fail("a reply other than Rlerror to a short request");
  if (r[4] != static_cast<uint8_t>(req[4] + 1)) fail("reply of the wrong type");
  if (r[5] != req[5] || r[6] != req[6]) fail("reply with the wrong tag");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Fixture& f = fixture();
  f.reset();
  Server& server = *f.server;

  // A fresh session: drops the fids (and their descriptors) of the last
  // input, then fids on everything the seed share holds, for messages to
  // use: 0 the root, 1 dir, 2 file (open read-write), 3 the absolute
  // symlink out, 4 the root (open), 5 the relative symlink, 6 the FIFO.
  const std::vector<std::vector<uint8_t>> setup = {
      P9Client::version_msg(8192, "9P2000.L").done(),
      P9Client::attach_msg(0).done(),
      P9Client::walk_msg(0, 1, {"dir"}).done(),
      P9Client::walk_msg(0, 2, {"file"}).done(),
      P9Msg(12).u32(2).u32(2).done(),  // Tlopen O_RDWR
      P9Client::walk_msg(0, 3, {"abs"}).done(),
      P9Client::walk_msg(0, 4, {}).done(),
      P9Msg(12).u32(4).u32(0).done(),
      P9Client::walk_msg(0, 5, {"rel"}).done(),
      P9Client::walk_msg(0, 6, {"fifo"}).done(),
  };
  for (const auto& m : setup) {
    auto r = server.handle(m, 1 << 20);
    check_reply(m, r, 1 << 20);
    if (r[4] == 7) fail("session setup failed");
  }

  if (size < 2) return 0;
  // The reply room, as a virtio chain's writable bytes: 0 .. ~1 MiB.
  const size_t room =
      static_cast<size_t>(data[0] | data[1] << 8) * 16 + data[0] % 16;
  std::span<const uint8_t> in(data + 2, size - 2);
  std::vector<uint8_t> msg;
  while (in.size() >= 2) {
    // A u16 length, then the message. Below 0x8000 the server sees a size
    // field that matches; from 0x8000 up (length & 0x7fff) the message
    // keeps its own, most likely wrong, size field.
    const uint16_t prefix = static_cast<uint16_t>(in[0] | in[1] << 8);
    in = in.subspan(2);
    const size_t n = std::min<size_t>(prefix & 0x7fff, in.size());
    msg.assign(in.begin(), in.begin() + static_cast<std::ptrdiff_t>(n));
    in = in.subspan(n);
    if (!(prefix & 0x8000) && n >= 4) {
      for (int i = 0; i < 4; ++i) msg[i] = static_cast<uint8_t>(n >> (8 * i));
    }
    check_reply(msg, server.handle(msg, room), room);
  }

  if (f.look_outside() != f.sentinel)
    fail("something outside the share changed");
  if (fs::exists(f.outside + "/planted"))
    fail("a file was planted outside the share");
  return 0;
}
