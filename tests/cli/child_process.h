// Running the real binaries from tests: fork/exec with stdout and stderr
// captured to files, bounded waits, and a kill on destruction so that a
// failed test never leaves a server behind.

#ifndef SQUANT_TESTS_CLI_CHILD_PROCESS_H_
#define SQUANT_TESTS_CLI_CHILD_PROCESS_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace squant::testing {

class ChildProcess {
 public:
  // Starts argv[0] with `argv`; output goes to `<log_prefix>.stdout` and
  // `<log_prefix>.stderr`.
  static absl::StatusOr<ChildProcess> Start(
      const std::vector<std::string>& argv, const std::string& log_prefix);

  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&&) = delete;
  ~ChildProcess();

  pid_t pid() const { return pid_; }
  bool Running();
  void Signal(int signal_number);
  // The exit code (128 + signal if killed), or an error after `timeout`
  // (the process is then killed).
  absl::StatusOr<int> Wait(absl::Duration timeout);
  std::string Stdout() const;
  std::string Stderr() const;

 private:
  ChildProcess(pid_t pid, std::string log_prefix)
      : pid_(pid), log_prefix_(std::move(log_prefix)) {}

  pid_t pid_ = -1;
  int exit_code_ = -1;
  std::string log_prefix_;
};

struct RunResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs a command to completion (killing it after `timeout`).
RunResult Run(const std::vector<std::string>& argv,
              absl::Duration timeout = absl::Seconds(120));

// A fresh path under the test's temporary directory.
std::string TempPath(const std::string& name);

std::string ReadWholeFile(const std::string& path);

}  // namespace squant::testing

#endif  // SQUANT_TESTS_CLI_CHILD_PROCESS_H_
