// vmrun-gitlab, the GitLab Runner custom executor driver, driven the way
// GitLab Runner drives it: config, prepare, one run per stage with a script
// file and the stage's name, cleanup; the job's CI/CD variables as
// CUSTOM_ENV_*, and the failure exit codes, in the environment. What
// GitLab would see is the exit status, the output, the exit-code file and
// the per-job directory on the host.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/subprocess.h"
#include "tests/support/temp_dir.h"

namespace {

namespace fs = std::filesystem;
using vmrun::test_support::run_program;
using vmrun::test_support::RunResult;
using vmrun::test_support::TempDir;

constexpr double kHangLimit = 300;
// Distinct from each other and from any status a script here exits with,
// so the test sees which one the driver chose.
constexpr int kBuildFailure = 77;
constexpr int kSystemFailure = 78;

std::string describe(const RunResult& r) {
  return "exit " + std::to_string(r.exit_code) + "\n--- stdout:\n" + r.out +
         "--- stderr:\n" + r.err;
}

bool has(const std::string& text, const std::string& what) {
  return text.find(what) != std::string::npos;
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// A strict little JSON reader for the config stage's output: every value
// lands in `flat` under its dotted path ("driver.name"); strings keep their
// quotes so that "false" and false differ. False on any syntax error.
class JsonReader {
 public:
  JsonReader(const std::string& text, std::map<std::string, std::string>* flat)
      : s_(text), out_(*flat) {}

  bool parse() {
    if (!value("")) return false;
    space();
    return i_ == s_.size();
  }

 private:
  void space() {
    while (i_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[i_]))) ++i_;
  }
  bool eat(char c) {
    space();
    if (i_ < s_.size() && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }
  bool string(std::string* v) {
    if (!eat('"')) return false;
    v->clear();
    while (i_ < s_.size() && s_[i_] != '"') {
      const char c = s_[i_++];
      if (static_cast<unsigned char>(c) < 0x20) return false;
      if (c != '\\') {
        v->push_back(c);
        continue;
      }
      if (i_ >= s_.size()) return false;
      const char e = s_[i_++];
      if (e == 'u') {
        for (int k = 0; k < 4; ++k, ++i_) {
          if (i_ >= s_.size() || !std::isxdigit(static_cast<unsigned char>(s_[i_]))) return false;
        }
        v->push_back('?');
      } else if (std::strchr("\"\\/", e)) {
        v->push_back(e);
      } else if (std::strchr("bfnrt", e)) {
        v->push_back(' ');
      } else {
        return false;
      }
    }
    return eat('"');
  }
  bool value(const std::string& path) {
    space();
    if (i_ >= s_.size()) return false;
    const char c = s_[i_];
    if (c == '{' || c == '[') {
      ++i_;
      const char close = c == '{' ? '}' : ']';
      if (eat(close)) return true;
      for (int n = 0;; ++n) {
        std::string key = "[" + std::to_string(n) + "]";
        if (c == '{' && (!string(&key) || !eat(':'))) return false;
        if (!value(path.empty() ? key : path + "." + key)) return false;
        if (eat(close)) return true;
        if (!eat(',')) return false;
      }
    }
    if (c == '"') {
      std::string v;
      if (!string(&v)) return false;
      out_[path] = "\"" + v + "\"";
      return true;
    }
    for (const char* word : {"true", "false", "null"}) {
      if (s_.compare(i_, std::strlen(word), word) == 0) {
        i_ += std::strlen(word);
        out_[path] = word;
        return true;
      }
    }
    const size_t start = i_;
    while (i_ < s_.size() && std::strchr("+-.0123456789eE", s_[i_])) ++i_;
    if (i_ == start) return false;
    out_[path] = s_.substr(start, i_ - start);
    return true;
  }

  const std::string& s_;
  std::map<std::string, std::string>& out_;
  size_t i_ = 0;
};

// A stage script shaped like the ones GitLab Runner generates for the `sh`
// shell: strict mode, then the commands as one ANSI-C quoted string run by
// eval with empty stdin, then an explicit success.
std::string gitlab_script(const std::string& commands) {
  std::string quoted;
  for (char c : commands) {
    if (c == '\\' || c == '\'') quoted += '\\';
    if (c == '\n') {
      quoted += "\\n";
    } else {
      quoted += c;
    }
  }
  return "set -eo pipefail\nset +o noclobber\n: | eval $'" + quoted + "\\n'\nexit 0\n";
}

struct Job {
  std::string runner;
  std::string id;
};

class GitlabTest : public ::testing::Test {
 protected:
  void SetUp() override { fs::create_directories(tmp_.path() + "/runner-tmp"); }

  std::string root() const { return tmp_.path() + "/root"; }
  std::string job_dir(const Job& j) const { return root() + "/jobs/" + j.runner + "-" + j.id; }
  std::string exit_code_file(const Job& j) const {
    return tmp_.path() + "/runner-tmp/exit-code-" + j.id;
  }

  // The driver's command line with the environment GitLab Runner gives it
  // (and nothing else from this process), through env(1) so that parallel
  // calls can differ.
  std::vector<std::string> command(const Job& j, const std::vector<std::string>& args,
                                   const std::vector<std::string>& vars) const {
    std::vector<std::string> argv{
        "/usr/bin/env",
        "-i",
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        std::string("VMRUN=") + VMRUN_BINARY,
        "VMRUN_GITLAB_ROOT=" + root(),
        "BUILD_FAILURE_EXIT_CODE=" + std::to_string(kBuildFailure),
        "SYSTEM_FAILURE_EXIT_CODE=" + std::to_string(kSystemFailure),
        "BUILD_EXIT_CODE_FILE=" + exit_code_file(j),
        "CUSTOM_ENV_CI_RUNNER_ID=" + j.runner,
        "CUSTOM_ENV_CI_JOB_ID=" + j.id,
        "CUSTOM_ENV_CI_BUILDS_DIR=/builds",
    };
    argv.insert(argv.end(), vars.begin(), vars.end());
    argv.push_back(VMRUN_GITLAB);
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
  }

  RunResult driver(const Job& j, const std::vector<std::string>& args,
                   const std::vector<std::string>& vars = {}) {
    RunResult r = run_program(command(j, args, vars), "", kHangLimit);
    EXPECT_FALSE(r.timed_out) << "vmrun-gitlab " << args[0] << " hung";
    return r;
  }

  // As GitLab Runner does for each stage: the script in a file of its own
  // (outside the job directory), then `run SCRIPT STAGE`.
  RunResult run_stage(const Job& j, const std::string& stage, const std::string& commands,
                      const std::vector<std::string>& vars = {}) {
    const std::string script = tmp_.path() + "/runner-tmp/" + j.id + "-" + stage;
    write_file(script, gitlab_script(commands));
    return driver(j, {"run", script, stage}, vars);
  }

  TempDir tmp_;
};

TEST_F(GitlabTest, ConfigPrintsTheJsonGitLabReads) {
  RunResult r = driver({"3", "10"}, {"config"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  std::map<std::string, std::string> json;
  ASSERT_TRUE(JsonReader(r.out, &json).parse()) << "not valid JSON:\n" << r.out;
  EXPECT_EQ(json["builds_dir"], "\"/builds\"");
  EXPECT_EQ(json["cache_dir"], "\"/cache\"");
  EXPECT_EQ(json["builds_dir_is_shared"], "false");
  EXPECT_EQ(json["shell"], "\"sh\"") << "the guest has busybox sh, not bash";
  EXPECT_EQ(json["driver.name"], "\"vmrun\"");
  RunResult version = run_program({VMRUN_BINARY, "--version"});
  ASSERT_TRUE(version.out.rfind("vmrun ", 0) == 0) << version.out;
  EXPECT_EQ(json["driver.version"], "\"" + version.out.substr(6, version.out.find('\n') - 6) + "\"");
  EXPECT_GT(json["hostname"].size(), 2u) << r.out;
  EXPECT_FALSE(fs::exists(root())) << "config creates nothing";
}

// The whole life of a passing job. Each stage is a fresh guest; what one
// stage leaves in /builds (and /cache) the next one finds, on the host in
// the job's directory; cleanup removes that directory and nothing else.
TEST_F(GitlabTest, StagesShareTheBuildsDirAndCleanupRemovesTheJob) {
  const Job job{"3", "11"};
  const std::string dir = job_dir(job);
  RunResult r = driver(job, {"prepare"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  for (const char* sub : {"builds", "cache", "script"}) {
    EXPECT_TRUE(fs::is_directory(dir + "/" + sub)) << dir << "/" << sub;
  }

  r = run_stage(job, "prepare_script", "echo \"Running on $(hostname) in a vmrun guest\"");
  EXPECT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_TRUE(has(r.out, "Running on ")) << describe(r);

  // As get_sources with GIT_STRATEGY=none: the project directory, no git.
  r = run_stage(job, "get_sources",
                "mkdir -p /builds/group/project\necho 'Skipping Git repository setup'");
  EXPECT_EQ(r.exit_code, 0) << describe(r);

  r = run_stage(job, "build_script",
                "cd /builds/group/project\n"
                "echo 'made by job 11 in build_script' > result.txt\n"
                "echo 'cached' > /cache/c.txt\n"
                "if echo x 2>/dev/null > /mnt/script/x; then echo 'script share is writable'; fi\n"
                "echo build done");
  EXPECT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_TRUE(has(r.out, "build done")) << describe(r);
  EXPECT_FALSE(has(r.out, "script share is writable")) << describe(r);
  EXPECT_EQ(read_file(dir + "/builds/group/project/result.txt"), "made by job 11 in build_script\n");
  EXPECT_EQ(read_file(dir + "/cache/c.txt"), "cached\n");
  EXPECT_TRUE(has(read_file(dir + "/script/build_script.sh"), "made by job 11"))
      << "the stage's script is kept in the job's script/ as STAGE.sh";

  // after_script reads what build_script left, and leaves something hard
  // to remove for cleanup.
  r = run_stage(job, "after_script",
                "cat /builds/group/project/result.txt\n"
                "mkdir /builds/locked && echo x > /builds/locked/f && chmod 000 /builds/locked");
  EXPECT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_TRUE(has(r.out, "made by job 11 in build_script\n")) << describe(r);
  EXPECT_FALSE(fs::exists(exit_code_file(job))) << "no exit-code file for a passing job";

  r = driver(job, {"cleanup"});
  EXPECT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_FALSE(fs::exists(dir));
  EXPECT_TRUE(fs::is_empty(root() + "/jobs")) << "nothing left for the job";
  r = driver(job, {"cleanup"});
  EXPECT_EQ(r.exit_code, 0) << "a second cleanup (nothing there) still passes: " << describe(r);
}

// The script's failure is the build's: BUILD_FAILURE_EXIT_CODE, with the
// script's own status in BUILD_EXIT_CODE_FILE; also for statuses that
// vmrun itself uses (125), since vmrun's report says the job exited so.
TEST_F(GitlabTest, FailingScriptIsABuildFailureWithItsStatus) {
  const Job job{"3", "12"};
  ASSERT_EQ(driver(job, {"prepare"}).exit_code, 0);
  RunResult r = run_stage(job, "build_script", "echo about to fail\nexit 3");
  EXPECT_EQ(r.exit_code, kBuildFailure) << describe(r);
  EXPECT_TRUE(has(r.out, "about to fail")) << describe(r);
  EXPECT_EQ(read_file(exit_code_file(job)), "3\n");

  r = run_stage(job, "after_script", "exit 125");
  EXPECT_EQ(r.exit_code, kBuildFailure) << describe(r);
  EXPECT_EQ(read_file(exit_code_file(job)), "125\n");
  EXPECT_EQ(driver(job, {"cleanup"}).exit_code, 0);
  EXPECT_FALSE(fs::exists(job_dir(job)));
}

// What prepare checks on the host fails the job as a system failure, with
// one line saying why, before any guest or job directory exists.
TEST_F(GitlabTest, PrepareRefusesWhatTheHostCannotProvide) {
  const Job job{"3", "13"};
  RunResult r = driver(job, {"prepare"}, {"CUSTOM_ENV_VMRUN_VFIO=0000:7e:1f.7"});
  EXPECT_EQ(r.exit_code, kSystemFailure) << describe(r);
  EXPECT_TRUE(has(r.err, "0000:7e:1f.7")) << describe(r);
  EXPECT_EQ(vmrun::test_support::count_lines(r.err), 1) << describe(r);

  r = driver(job, {"prepare"}, {"CUSTOM_ENV_VMRUN_VFIO=01:00.0"});
  EXPECT_EQ(r.exit_code, kSystemFailure) << describe(r);

  r = driver(job, {"prepare"}, {"CUSTOM_ENV_VMRUN_KERNEL=" + tmp_.path() + "/no-such-kernel"});
  EXPECT_EQ(r.exit_code, kSystemFailure) << describe(r);
  EXPECT_TRUE(has(r.err, "no-such-kernel")) << describe(r);

  r = driver(job, {"prepare"}, {"VMRUN=" + tmp_.path() + "/no-such-vmrun"});
  EXPECT_EQ(r.exit_code, kSystemFailure) << describe(r);

  // The job id names a directory that cleanup removes: only digits.
  r = driver({"3", "1/../../../escape"}, {"prepare"});
  EXPECT_EQ(r.exit_code, kSystemFailure) << describe(r);
  EXPECT_FALSE(fs::exists(tmp_.path() + "/escape"));

  EXPECT_FALSE(fs::exists(job_dir(job)));
  EXPECT_EQ(driver(job, {"cleanup"}).exit_code, 0) << "cleanup after a failed prepare";
}

// Decided: a stage that outruns VMRUN_TIMEOUT is a build failure (a hung
// test or driver is the job's), reported with vmrun's 124.
TEST_F(GitlabTest, StageTimeoutIsABuildFailureWithStatus124) {
  const Job job{"3", "14"};
  ASSERT_EQ(driver(job, {"prepare"}).exit_code, 0);
  RunResult r = run_stage(job, "build_script", "sleep 60", {"CUSTOM_ENV_VMRUN_TIMEOUT=5"});
  EXPECT_EQ(r.exit_code, kBuildFailure) << describe(r);
  EXPECT_EQ(read_file(exit_code_file(job)), "124\n");
  EXPECT_TRUE(has(r.err, "timed out")) << describe(r);
  EXPECT_LT(r.seconds, 50) << "the guest was not stopped at the timeout";
  EXPECT_EQ(driver(job, {"cleanup"}).exit_code, 0);
}

// Two jobs of one runner at once (concurrent = 2): each its own VM, its own
// builds directory, its own result.
TEST_F(GitlabTest, TwoJobsRunAtOnceEachInItsOwnDirectory) {
  const std::vector<Job> jobs{{"3", "21"}, {"3", "22"}};
  for (const Job& j : jobs) ASSERT_EQ(driver(j, {"prepare"}).exit_code, 0);
  std::vector<RunResult> results(jobs.size());
  std::vector<std::thread> threads;
  for (size_t k = 0; k < jobs.size(); ++k) {
    threads.emplace_back([&, k] {
      const std::string me = "job " + jobs[k].id;
      results[k] = run_stage(jobs[k], "build_script",
                             "echo '" + me + "' > /builds/who\nsleep 3\n"
                             "[ \"$(cat /builds/who)\" = '" + me + "' ]\necho " + me + " done");
    });
  }
  for (auto& t : threads) t.join();
  for (size_t k = 0; k < jobs.size(); ++k) {
    EXPECT_EQ(results[k].exit_code, 0) << describe(results[k]);
    EXPECT_TRUE(has(results[k].out, "job " + jobs[k].id + " done")) << describe(results[k]);
    EXPECT_EQ(read_file(job_dir(jobs[k]) + "/builds/who"), "job " + jobs[k].id + "\n");
  }
  for (const Job& j : jobs) EXPECT_EQ(driver(j, {"cleanup"}).exit_code, 0);
  EXPECT_TRUE(fs::is_empty(root() + "/jobs"));
}

// GitLab cancels a job by sending SIGTERM to the driver's process group
// (vmrun gets it too); the driver alone may get it as well. Either way the
// guest stops cleanly (vmrun's report says "interrupted": one signal, not
// two, which would end vmrun at once), the driver reports a system failure
// promptly, and no process of the stage is left.
TEST_F(GitlabTest, CancelStopsTheGuestAndIsASystemFailure) {
  const Job job{"3", "15"};
  ASSERT_EQ(driver(job, {"prepare"}).exit_code, 0);
  const std::string script = tmp_.path() + "/runner-tmp/cancel";
  write_file(script, gitlab_script("echo started > /builds/started\nsleep 300"));
  const std::string started = job_dir(job) + "/builds/started";
  const std::string err_path = tmp_.path() + "/runner-tmp/cancel.err";
  std::vector<std::string> argv = command(job, {"run", script, "build_script"}, {});
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);

  using Clock = std::chrono::steady_clock;
  auto elapsed = [](Clock::time_point since) {
    return std::chrono::duration<double>(Clock::now() - since).count();
  };
  for (const bool whole_group : {true, false}) {
    SCOPED_TRACE(whole_group ? "SIGTERM to the process group" : "SIGTERM to the driver only");
    fs::remove(started);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&attr, 0);  // its own group, as GitLab Runner starts it
    pid_t pid = 0;
    char* no_env[] = {nullptr};  // env -i sets all of it
    ASSERT_EQ(posix_spawn(&pid, args[0], &fa, &attr, args.data(), no_env), 0);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);

    // Waits up to `limit` seconds for the driver to exit; its wait status.
    auto wait_exit = [&](double limit) -> int {
      const auto start = Clock::now();
      int status = 0;
      while (waitpid(pid, &status, WNOHANG) == 0) {
        if (elapsed(start) > limit) return -1;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
      return status;
    };
    const auto start = Clock::now();
    while (!fs::exists(started) && elapsed(start) < 180) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    if (!fs::exists(started)) {
      kill(-pid, SIGKILL);
      wait_exit(60);
      FAIL() << "the stage never started:\n" << read_file(err_path);
    }
    const auto cancelled = Clock::now();
    ASSERT_EQ(kill(whole_group ? -pid : pid, SIGTERM), 0);
    const int status = wait_exit(60);
    if (status == -1) {
      kill(-pid, SIGKILL);
      wait_exit(60);
      FAIL() << "the driver did not stop within 60 s of SIGTERM";
    }
    EXPECT_LT(elapsed(cancelled), 20) << "stopping took too long";
    ASSERT_TRUE(WIFEXITED(status)) << "the driver was killed by signal " << WTERMSIG(status);
    const std::string err = read_file(err_path);
    EXPECT_EQ(WEXITSTATUS(status), kSystemFailure) << err;
    EXPECT_TRUE(has(err, "cancelled (SIGTERM)")) << err;
    EXPECT_TRUE(has(err, "vmrun: stopped by SIGTERM; guest stopped")) << err;
    EXPECT_TRUE(has(read_file(job_dir(job) + "/build_script.result.json"),
                    "\"reason\": \"interrupted\"")) << "vmrun did not stop cleanly\n" << err;
    errno = 0;
    EXPECT_EQ(kill(-pid, 0), -1) << "a process of the stage (vmrun?) is still running";
    EXPECT_EQ(errno, ESRCH);
  }
  EXPECT_EQ(driver(job, {"cleanup"}).exit_code, 0);
  EXPECT_FALSE(fs::exists(job_dir(job)));
}

}  // namespace
