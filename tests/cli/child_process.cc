#include "tests/cli/child_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace squant::testing {

absl::StatusOr<ChildProcess> ChildProcess::Start(
    const std::vector<std::string>& argv, const std::string& log_prefix) {
  const std::string out_path = log_prefix + ".stdout";
  const std::string err_path = log_prefix + ".stderr";
  std::vector<char*> args;
  for (const std::string& arg : argv)
    args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) return absl::InternalError("fork failed");
  if (pid == 0) {
    const int out =
        ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int err =
        ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(out, STDOUT_FILENO);
    ::dup2(err, STDERR_FILENO);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  return ChildProcess(pid, log_prefix);
}

ChildProcess::ChildProcess(ChildProcess&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)),
      exit_code_(other.exit_code_),
      log_prefix_(std::move(other.log_prefix_)) {}

ChildProcess::~ChildProcess() {
  if (Running()) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
}

bool ChildProcess::Running() {
  if (pid_ < 0 || exit_code_ >= 0) return false;
  int status = 0;
  const pid_t done = ::waitpid(pid_, &status, WNOHANG);
  if (done == 0) return true;
  exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return false;
}

void ChildProcess::Signal(int signal_number) {
  if (Running()) ::kill(pid_, signal_number);
}

absl::StatusOr<int> ChildProcess::Wait(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (Running()) {
    if (absl::Now() > deadline) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
      exit_code_ = 128 + SIGKILL;
      return absl::DeadlineExceededError(
          absl::StrCat(log_prefix_, ": still running after ",
                       absl::FormatDuration(timeout), "; killed"));
    }
    absl::SleepFor(absl::Milliseconds(5));
  }
  return exit_code_;
}

std::string ChildProcess::Stdout() const {
  return ReadWholeFile(log_prefix_ + ".stdout");
}
std::string ChildProcess::Stderr() const {
  return ReadWholeFile(log_prefix_ + ".stderr");
}

RunResult Run(const std::vector<std::string>& argv, absl::Duration timeout) {
  static std::atomic<int> counter{0};
  RunResult result;
  absl::StatusOr<ChildProcess> child =
      ChildProcess::Start(argv, TempPath(absl::StrCat("run", counter++)));
  if (!child.ok()) {
    result.err = std::string(child.status().message());
    return result;
  }
  absl::StatusOr<int> code = child->Wait(timeout);
  result.exit_code = code.ok() ? *code : -1;
  result.out = child->Stdout();
  result.err = child->Stderr();
  if (!code.ok()) result.err += std::string(code.status().message());
  return result;
}

std::string TempPath(const std::string& name) {
  // One folder per test process, removed when it exits: the models and
  // logs of a run stay out of everybody else's /tmp.
  static const std::string* const folder = [] {
    auto* path = new std::string(
        absl::StrCat(::testing::TempDir(), "/squant_cli_test_", ::getpid()));
    std::filesystem::create_directories(*path);
    std::atexit([] {
      std::error_code ignored;
      std::filesystem::remove_all(*folder, ignored);
    });
    return path;
  }();
  const ::testing::TestInfo* test =
      ::testing::UnitTest::GetInstance()->current_test_info();
  return absl::StrCat(*folder, "/", test ? test->name() : "global", "_", name);
}

std::string ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace squant::testing
