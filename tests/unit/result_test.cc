// Result<T>, Error, VMRUN_TRY / VMRUN_TRY_CTX and UniqueFd (vmm/result.h,
// vmm/unique_fd.h).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <string>
#include <utility>

#include "vmm/result.h"
#include "vmm/unique_fd.h"

namespace vmrun {
namespace {

Result<int> parse_positive(int v) {
  if (v <= 0) return Error("not positive: " + std::to_string(v));
  return v;
}

Result<int> doubled(int v) {
  int x = VMRUN_TRY(parse_positive(v));
  return 2 * x;
}

Result<int> doubled_with_context(int v) {
  int x = VMRUN_TRY_CTX(parse_positive(v), "doubling");
  return 2 * x;
}

Result<void> check(bool good) {
  if (!good) return Error("check failed");
  return ok();
}

Result<std::string> after_check(bool good) {
  VMRUN_TRY(check(good));
  return std::string("checked");
}

Result<std::unique_ptr<int>> make_box(int v) { return std::make_unique<int>(v); }

Result<int> unbox(int v) {
  std::unique_ptr<int> box = VMRUN_TRY(make_box(v));  // move-only value
  return *box;
}

bool fd_is_open(int fd) { return fcntl(fd, F_GETFD) != -1; }

struct Pipe {
  int r = -1, w = -1;
  Pipe() {
    int fds[2];
    EXPECT_EQ(pipe(fds), 0);
    r = fds[0];
    w = fds[1];
  }
  ~Pipe() {
    // Close whatever a test left open; a closed fd gives EBADF, harmlessly.
    if (fd_is_open(r)) close(r);
    if (fd_is_open(w)) close(w);
  }
};

TEST(ResultTest, HoldsValue) {
  Result<int> r = 42;
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(static_cast<bool>(r));
  EXPECT_EQ(r.value(), 42);
  EXPECT_EQ(*r, 42);
}

TEST(ResultTest, HoldsError) {
  Result<int> r = Error("boom");
  ASSERT_FALSE(r.ok());
  EXPECT_FALSE(static_cast<bool>(r));
  EXPECT_EQ(r.error().message(), "boom");
}

TEST(ResultTest, ArrowReachesMembers) {
  Result<std::string> r = std::string("abc");
  EXPECT_EQ(r->size(), 3u);
}

TEST(ResultTest, VoidResult) {
  EXPECT_TRUE(ok().ok());
  Result<void> bad = Error("nope");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message(), "nope");
}

TEST(ResultTest, ErrorContextPrefixesOuterOperation) {
  Error e = Error("open x: No such file").context("loading kernel");
  EXPECT_EQ(e.message(), "loading kernel: open x: No such file");
  EXPECT_EQ(e.context("boot").message(),
            "boot: loading kernel: open x: No such file");
}

TEST(ResultTest, FromErrnoNamesOperationAndReason) {
  Error e = Error::from_errno("open /nope", ENOENT);
  EXPECT_EQ(e.message(), "open /nope: No such file or directory");
  errno = EACCES;
  EXPECT_EQ(Error::from_errno("open /x").message(),
            "open /x: Permission denied");
}

TEST(ResultTest, TryYieldsValueOnSuccess) {
  auto r = doubled(21);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r.value(), 42);
}

TEST(ResultTest, TryPropagatesErrorUnchanged) {
  auto r = doubled(-3);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message(), "not positive: -3");
}

TEST(ResultTest, TryCtxAddsContextOnlyOnError) {
  auto good = doubled_with_context(5);
  ASSERT_TRUE(good.ok());
  EXPECT_EQ(good.value(), 10);
  auto bad = doubled_with_context(0);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message(), "doubling: not positive: 0");
}

TEST(ResultTest, TryWorksOnVoidResults) {
  auto good = after_check(true);
  ASSERT_TRUE(good.ok());
  EXPECT_EQ(good.value(), "checked");
  auto bad = after_check(false);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message(), "check failed");
}

TEST(ResultTest, TryMovesMoveOnlyValues) {
  auto r = unbox(7);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value(), 7);
}

TEST(UniqueFdTest, DefaultIsInvalid) {
  UniqueFd fd;
  EXPECT_FALSE(fd.valid());
  EXPECT_EQ(fd.get(), -1);
}

TEST(UniqueFdTest, ClosesOnDestruction) {
  Pipe p;
  {
    UniqueFd fd(p.r);
    EXPECT_TRUE(fd.valid());
    EXPECT_EQ(fd.get(), p.r);
    EXPECT_TRUE(fd_is_open(p.r));
  }
  EXPECT_FALSE(fd_is_open(p.r));
  EXPECT_TRUE(fd_is_open(p.w));
}

TEST(UniqueFdTest, MoveConstructionTransfersOwnership) {
  Pipe p;
  UniqueFd a(p.r);
  {
    UniqueFd b(std::move(a));
    EXPECT_FALSE(a.valid());  // NOLINT(bugprone-use-after-move): checked on purpose
    EXPECT_EQ(b.get(), p.r);
  }
  // b closed it; a's destructor must not close it again (nor anything else).
  EXPECT_FALSE(fd_is_open(p.r));
}

TEST(UniqueFdTest, MoveAssignmentClosesPreviousFd) {
  Pipe p;
  UniqueFd a(p.r);
  UniqueFd b(p.w);
  b = std::move(a);
  EXPECT_FALSE(fd_is_open(p.w));  // b's old fd closed
  EXPECT_TRUE(fd_is_open(p.r));   // now owned by b
  EXPECT_EQ(b.get(), p.r);
  EXPECT_FALSE(a.valid());  // NOLINT(bugprone-use-after-move)
}

TEST(UniqueFdTest, SelfMoveAssignmentKeepsFdOpen) {
  Pipe p;
  UniqueFd a(p.r);
  UniqueFd& alias = a;
  a = std::move(alias);
  EXPECT_TRUE(a.valid());
  EXPECT_TRUE(fd_is_open(p.r));
}

TEST(UniqueFdTest, ReleaseGivesUpOwnership) {
  Pipe p;
  {
    UniqueFd fd(p.r);
    EXPECT_EQ(fd.release(), p.r);
    EXPECT_FALSE(fd.valid());
  }
  EXPECT_TRUE(fd_is_open(p.r));
}

TEST(UniqueFdTest, ResetClosesOldAndAdoptsNew) {
  Pipe p;
  UniqueFd fd(p.r);
  fd.reset(p.w);
  EXPECT_FALSE(fd_is_open(p.r));
  EXPECT_TRUE(fd_is_open(p.w));
  fd.reset();
  EXPECT_FALSE(fd_is_open(p.w));
  EXPECT_FALSE(fd.valid());
}

// Closing exactly once: after the first close, a new descriptor may reuse
// the number. A second close would close that unrelated descriptor.
TEST(UniqueFdTest, DoesNotCloseTwice) {
  Pipe p;
  int number = p.r;
  {
    UniqueFd a(p.r);
    UniqueFd b(std::move(a));
    b.reset();
    int reused = dup(p.w);  // lowest free number: the one just closed
    ASSERT_EQ(reused, number);
  }  // a and b destroyed: neither may close `reused`
  EXPECT_TRUE(fd_is_open(number));
  close(number);
}

}  // namespace
}  // namespace vmrun
