// Disk backends on real temporary files: FileDisk (raw image), SnapshotDisk
// (copy-on-write overlay, base never written), open_disk's errors and locks.
#include "devices/disk.h"

#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "tests/support/temp_dir.h"

namespace vmrun::devices {
namespace {

using test_support::TempDir;
constexpr uint64_t kKiB = 1024, kMiB = 1024 * kKiB;

std::vector<uint8_t> pattern(uint64_t size, uint8_t seed = 1) {
  std::vector<uint8_t> v(size);
  for (uint64_t i = 0; i < size; ++i) {
    v[i] = static_cast<uint8_t>(i * 13 + i / 4096 + seed);
  }
  return v;
}

std::vector<uint8_t> file_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

void write_file(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(bytes.data()),
          static_cast<std::streamsize>(bytes.size()));
}

// Files under `dir` that this process has open (named, or unlinked and
// shown as "(deleted)", or O_TMPFILE's "#inode (deleted)").
int open_files_under(const std::string& dir) {
  int n = 0;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
    std::error_code ec;
    auto target = std::filesystem::read_symlink(e.path(), ec).string();
    if (!ec && target.rfind(dir + "/", 0) == 0) ++n;
  }
  return n;
}

// Runs `check` as an unprivileged user (root ignores file permissions):
// in a forked child when we are root, else right here.
bool as_unprivileged(const std::function<bool()>& check) {
  if (geteuid() != 0) return check();
  pid_t pid = fork();
  if (pid == 0) {
    if (setgid(65534) != 0 || setuid(65534) != 0) _exit(2);
    _exit(check() ? 0 : 1);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

class DiskTest : public ::testing::Test {
 protected:
  DiskTest() {
    // An unprivileged child must be able to reach the files.
    chmod(dir_.path().c_str(), 0755);
  }

  std::string make_image(const std::string& name, uint64_t size) {
    std::string path = dir_.path() + "/" + name;
    write_file(path, pattern(size));
    return path;
  }

  std::unique_ptr<DiskBackend> open_ok(const DiskOptions& options) {
    auto d = open_disk(options);
    if (!d.ok()) throw std::runtime_error(d.error().message());
    return std::move(d).value();
  }

  std::string open_error(const DiskOptions& options) {
    auto d = open_disk(options);
    return d.ok() ? "(opened)" : d.error().message();
  }

  static std::vector<uint8_t> read(DiskBackend& d, uint64_t offset,
                                   uint64_t len) {
    std::vector<uint8_t> out(len);
    auto r = d.read_at(offset, out);
    if (!r.ok()) throw std::runtime_error(r.error().message());
    return out;
  }

  TempDir dir_;
};

// ---- FileDisk ----

TEST_F(DiskTest, FileDiskRoundTrip) {
  auto path = make_image("disk.img", 64 * kKiB);
  {
    auto d = open_ok({path, false, false});
    EXPECT_EQ(d->size(), 64 * kKiB);
    EXPECT_FALSE(d->read_only());
    const auto image = pattern(64 * kKiB);
    EXPECT_EQ(read(*d, 4096, 1000),
              std::vector<uint8_t>(image.begin() + 4096, image.begin() + 5096));
    auto data = pattern(1024, 99);
    ASSERT_TRUE(d->write_at(512, data).ok());
    EXPECT_EQ(read(*d, 512, 1024), data);
    ASSERT_TRUE(d->flush().ok());
  }
  auto bytes = file_bytes(path);
  EXPECT_EQ(std::vector<uint8_t>(bytes.begin() + 512, bytes.begin() + 1536),
            pattern(1024, 99));
}

TEST_F(DiskTest, FileDiskScatterGather) {
  auto path = make_image("disk.img", 64 * kKiB);
  auto d = open_ok({path, false, false});
  std::vector<uint8_t> a(100, 1), b(412, 2), c(512, 3);
  std::vector<std::span<const uint8_t>> out = {a, b, c};
  ASSERT_TRUE(d->write_vec(1024, out).ok());
  std::vector<uint8_t> x(300), y(724);
  std::vector<std::span<uint8_t>> in = {x, y};
  ASSERT_TRUE(d->read_vec(1024, in).ok());
  EXPECT_EQ(x[99], 1);
  EXPECT_EQ(x[100], 2);
  EXPECT_EQ(y[211], 2);
  EXPECT_EQ(y[212], 3);
  EXPECT_EQ(y[723], 3);
  // Past the end: refused as a whole.
  std::vector<uint8_t> big(64 * kKiB);
  std::vector<std::span<uint8_t>> too_far = {x, big};
  EXPECT_FALSE(d->read_vec(0, too_far).ok());
}

TEST_F(DiskTest, SizeRoundsDownToWholeSectors) {
  auto path = make_image("odd.img", kMiB + 100);
  auto d = open_ok({path, false, false});
  EXPECT_EQ(d->size(), kMiB);
  EXPECT_TRUE(d->write_at(kMiB - 512, std::vector<uint8_t>(512, 0xaa)).ok());
  EXPECT_FALSE(d->write_at(kMiB - 512, std::vector<uint8_t>(513, 0xaa)).ok());
  std::vector<uint8_t> out(1);
  EXPECT_FALSE(d->read_at(kMiB, out).ok());
  d.reset();
  // The invisible tail is never written.
  auto bytes = file_bytes(path);
  ASSERT_EQ(bytes.size(), kMiB + 100);
  auto expect = pattern(kMiB + 100);
  EXPECT_TRUE(
      std::equal(bytes.begin() + kMiB, bytes.end(), expect.begin() + kMiB));
}

TEST_F(DiskTest, RangesAreChecked) {
  auto d = open_ok({make_image("disk.img", 8 * kKiB), false, false});
  std::vector<uint8_t> buf(512);
  EXPECT_FALSE(d->read_at(UINT64_MAX - 100, buf).ok());
  EXPECT_FALSE(d->write_at(8 * kKiB - 511, buf).ok());
  EXPECT_FALSE(d->discard(4096, UINT64_MAX).ok());
  EXPECT_FALSE(d->write_zeroes(8 * kKiB, 1).ok());
  EXPECT_TRUE(d->read_at(8 * kKiB, std::span<uint8_t>()).ok());
}

TEST_F(DiskTest, ReadOnlyRefusesWrites) {
  auto path = make_image("disk.img", 16 * kKiB);
  auto d = open_ok({path, true, false});
  EXPECT_TRUE(d->read_only());
  EXPECT_FALSE(d->can_punch_holes());
  EXPECT_FALSE(d->write_at(0, std::vector<uint8_t>(512, 0)).ok());
  EXPECT_FALSE(d->discard(0, 4096).ok());
  EXPECT_FALSE(d->write_zeroes(0, 4096).ok());
  EXPECT_TRUE(d->flush().ok());
  EXPECT_EQ(read(*d, 0, 512), std::vector<uint8_t>(pattern(512)));
  EXPECT_EQ(file_bytes(path), pattern(16 * kKiB));
}

TEST_F(DiskTest, DiscardPunchesAHoleThatReadsZero) {
  auto path = make_image("disk.img", 256 * kKiB);
  auto d = open_ok({path, false, false});
  struct stat before;
  ASSERT_EQ(stat(path.c_str(), &before), 0);
  ASSERT_TRUE(d->discard(64 * kKiB, 128 * kKiB).ok());
  EXPECT_EQ(read(*d, 64 * kKiB, 128 * kKiB), std::vector<uint8_t>(128 * kKiB));
  EXPECT_EQ(read(*d, 64 * kKiB - 1, 1)[0], pattern(64 * kKiB)[64 * kKiB - 1]);
  struct stat after;
  ASSERT_EQ(stat(path.c_str(), &after), 0);
  EXPECT_EQ(after.st_size, before.st_size);
  if (d->can_punch_holes()) {
    EXPECT_LT(after.st_blocks, before.st_blocks);
  }
}

TEST_F(DiskTest, DiscardOfOneSectorInsideABlock) {
  auto path = make_image("disk.img", 16 * kKiB);
  auto d = open_ok({path, false, false});
  ASSERT_TRUE(d->discard(512, 512).ok());
  auto all = read(*d, 0, 16 * kKiB);
  auto want = pattern(16 * kKiB);
  std::fill_n(want.begin() + 512, 512, 0);
  EXPECT_EQ(all, want);
}

TEST_F(DiskTest, WriteZeroesZeroes) {
  auto path = make_image("disk.img", 64 * kKiB);
  auto d = open_ok({path, false, false});
  ASSERT_TRUE(d->write_zeroes(1024, 10 * kKiB).ok());
  d.reset();
  auto want = pattern(64 * kKiB);
  std::fill_n(want.begin() + 1024, 10 * kKiB, 0);
  EXPECT_EQ(file_bytes(path), want);
}

// ---- errors and locks ----

TEST_F(DiskTest, MissingFile) {
  EXPECT_EQ(open_error({dir_.path() + "/nope.img", false, false}),
            "disk '" + dir_.path() + "/nope.img': No such file or directory");
}

TEST_F(DiskTest, Directory) {
  EXPECT_EQ(open_error({dir_.path(), true, false}),
            "disk '" + dir_.path() + "': is a directory");
}

TEST_F(DiskTest, NotARegularFile) {
  EXPECT_EQ(open_error({"/dev/null", true, false}),
            "disk '/dev/null': not a regular file");
}

TEST_F(DiskTest, TooSmall) {
  for (uint64_t size : {0, 1, 511}) {
    auto path = make_image("small.img", size);
    EXPECT_EQ(open_error({path, false, false}),
              "disk '" + path + "': smaller than one 512-byte sector")
        << size;
  }
  EXPECT_NO_THROW(open_ok({make_image("one.img", 512), false, false}));
}

TEST_F(DiskTest, NotWritableSuggestsReadOnly) {
  auto path = make_image("ro.img", 4096);
  chmod(path.c_str(), 0444);
  EXPECT_TRUE(as_unprivileged([&] {
    auto msg = open_error({path, false, false});
    return msg.find("disk '" + path + "': not writable") == 0 &&
           msg.find(",ro") != std::string::npos;
  }));
  // Read-only and snapshot opens need only read access.
  EXPECT_TRUE(as_unprivileged([&] {
    return open_disk({path, true, false}).ok() &&
           open_disk({path, false, true}).ok();
  }));
}

TEST_F(DiskTest, Unreadable) {
  auto path = make_image("secret.img", 4096);
  chmod(path.c_str(), 0200);
  EXPECT_TRUE(as_unprivileged([&] {
    const std::string denied = "disk '" + path + "': Permission denied";
    return open_error({path, true, false}) == denied &&
           open_error({path, false, false}) == denied;
  }));
}

TEST_F(DiskTest, WritersExcludeEveryoneElse) {
  auto path = make_image("disk.img", 4096);
  const std::string busy = "disk '" + path + "' is in use by another process";
  {
    auto rw = open_ok({path, false, false});
    EXPECT_EQ(open_error({path, false, false}), busy);
    EXPECT_EQ(open_error({path, true, false}), busy);
    EXPECT_EQ(open_error({path, false, true}), busy);
  }
  // Gone with the first disk.
  EXPECT_NO_THROW(open_ok({path, false, false}));
}

TEST_F(DiskTest, ReadersShare) {
  auto path = make_image("disk.img", 4096);
  auto ro = open_ok({path, true, false});
  auto snap = open_ok({path, false, true});
  auto ro2 = open_ok({path, true, false});
  EXPECT_EQ(open_error({path, false, false}),
            "disk '" + path + "' is in use by another process");
}

TEST_F(DiskTest, LockHoldsAcrossProcesses) {
  auto path = make_image("disk.img", 4096);
  auto rw = open_ok({path, false, false});
  pid_t pid = fork();
  if (pid == 0) _exit(open_disk({path, true, false}).ok() ? 1 : 0);
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

TEST_F(DiskTest, FactoryKinds) {
  auto path = make_image("disk.img", 4096);
  {
    auto d = open_ok({path, false, false});
    EXPECT_NE(dynamic_cast<FileDisk*>(d.get()), nullptr);
    EXPECT_FALSE(d->read_only());
  }
  {
    auto d = open_ok({path, false, true});
    EXPECT_NE(dynamic_cast<SnapshotDisk*>(d.get()), nullptr);
    EXPECT_FALSE(d->read_only());
  }
  {
    // Read-only wins: there is nothing to throw away.
    auto d = open_ok({path, true, true});
    EXPECT_NE(dynamic_cast<FileDisk*>(d.get()), nullptr);
    EXPECT_TRUE(d->read_only());
  }
}

// ---- SnapshotDisk ----

class SnapshotTest : public DiskTest {
 protected:
  std::unique_ptr<SnapshotDisk> snapshot(const std::string& path) {
    auto base = FileDisk::open(path, true);
    if (!base.ok()) throw std::runtime_error(base.error().message());
    auto s = SnapshotDisk::create(std::move(base).value(), overlay_dir_.path());
    if (!s.ok()) throw std::runtime_error(s.error().message());
    return std::move(s).value();
  }
  TempDir overlay_dir_;
};

TEST_F(SnapshotTest, ReadsTheBase) {
  auto path = make_image("base.img", 64 * kKiB);
  auto s = snapshot(path);
  EXPECT_EQ(s->size(), 64 * kKiB);
  EXPECT_FALSE(s->read_only());
  EXPECT_EQ(read(*s, 0, 64 * kKiB), pattern(64 * kKiB));
  EXPECT_EQ(s->overlay_blocks(), 0u);
}

TEST_F(SnapshotTest, WritesAreSeenAndTheBaseIsUntouched) {
  auto path = make_image("base.img", 64 * kKiB);
  struct stat before;
  ASSERT_EQ(stat(path.c_str(), &before), 0);
  auto s = snapshot(path);
  auto want = pattern(64 * kKiB);

  // A sector inside a block, a write across a block edge, whole blocks.
  auto a = pattern(512, 50), b = pattern(3000, 60), c = pattern(8192, 70);
  ASSERT_TRUE(s->write_at(1536, a).ok());
  ASSERT_TRUE(s->write_at(4096 * 3 - 1000, b).ok());
  ASSERT_TRUE(s->write_at(8 * 4096, c).ok());
  std::copy(a.begin(), a.end(), want.begin() + 1536);
  std::copy(b.begin(), b.end(), want.begin() + 4096 * 3 - 1000);
  std::copy(c.begin(), c.end(), want.begin() + 8 * 4096);
  EXPECT_EQ(read(*s, 0, 64 * kKiB), want);
  // Reads that start and end inside mixed runs.
  EXPECT_EQ(read(*s, 1000, 20000),
            std::vector<uint8_t>(want.begin() + 1000, want.begin() + 21000));
  EXPECT_EQ(s->overlay_blocks(), 1u + 2u + 2u);
  ASSERT_TRUE(s->flush().ok());

  // The base: same bytes, never written.
  EXPECT_EQ(file_bytes(path), pattern(64 * kKiB));
  struct stat after;
  ASSERT_EQ(stat(path.c_str(), &after), 0);
  EXPECT_EQ(after.st_mtim.tv_sec, before.st_mtim.tv_sec);
  EXPECT_EQ(after.st_mtim.tv_nsec, before.st_mtim.tv_nsec);
}

TEST_F(SnapshotTest, DiscardAndWriteZeroesReadZero) {
  auto path = make_image("base.img", 64 * kKiB);
  auto s = snapshot(path);
  auto want = pattern(64 * kKiB);
  ASSERT_TRUE(s->discard(512, 10 * kKiB).ok());
  ASSERT_TRUE(s->write_zeroes(40 * kKiB, 4 * kKiB).ok());
  std::fill_n(want.begin() + 512, 10 * kKiB, 0);
  std::fill_n(want.begin() + 40 * kKiB, 4 * kKiB, 0);
  EXPECT_EQ(read(*s, 0, 64 * kKiB), want);
  EXPECT_EQ(file_bytes(path), pattern(64 * kKiB));
}

TEST_F(SnapshotTest, PartialLastBlock) {
  auto path = make_image("base.img", 8 * kKiB + 512 + 7);  // 8.5 KiB visible
  auto s = snapshot(path);
  EXPECT_EQ(s->size(), 8 * kKiB + 512);
  ASSERT_TRUE(s->write_at(8 * kKiB, pattern(512, 9)).ok());
  EXPECT_EQ(read(*s, 8 * kKiB, 512), pattern(512, 9));
  EXPECT_FALSE(s->write_at(8 * kKiB + 1, pattern(512)).ok());
  ASSERT_TRUE(s->write_at(8 * kKiB - 100, pattern(200, 3)).ok());
  auto want = pattern(8 * kKiB + 512);
  std::copy_n(pattern(200, 3).begin(), 100, want.begin() + 8 * kKiB - 100);
  std::copy_n(pattern(200, 3).begin() + 100, 100, want.begin() + 8 * kKiB);
  std::copy_n(pattern(512, 9).begin() + 100, 412,
              want.begin() + 8 * kKiB + 100);
  EXPECT_EQ(read(*s, 0, 8 * kKiB + 512), want);
}

TEST_F(SnapshotTest, OverlayLeavesNothingBehind) {
  auto path = make_image("base.img", 64 * kKiB);
  const std::string tmp = overlay_dir_.path();
  {
    auto s = snapshot(path);
    ASSERT_TRUE(s->write_at(0, pattern(64 * kKiB, 5)).ok());
    // No name in the directory, ever; one open (unnamed) file while it lives.
    EXPECT_TRUE(std::filesystem::is_empty(tmp));
    EXPECT_EQ(open_files_under(tmp), 1);
  }
  EXPECT_EQ(open_files_under(tmp), 0);
  EXPECT_TRUE(std::filesystem::is_empty(tmp));
  EXPECT_EQ(file_bytes(path), pattern(64 * kKiB));
}

TEST_F(SnapshotTest, BadOverlayDirectory) {
  auto base = FileDisk::open(make_image("base.img", 4096), true);
  ASSERT_TRUE(base.ok());
  auto s =
      SnapshotDisk::create(std::move(base).value(), dir_.path() + "/missing");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message().find("snapshot overlay in"), std::string::npos)
      << s.error().message();
}

}  // namespace
}  // namespace vmrun::devices
