#ifndef SQUANT_TESTS_CLI_CLI_RUNNER_H_
#define SQUANT_TESTS_CLI_CLI_RUNNER_H_

#include <string>
#include <vector>

#include "tests/cli/child_process.h"

namespace squant::testing {

// Runs the built squant-cli with `args`.
inline RunResult RunCli(std::vector<std::string> args) {
  args.insert(args.begin(), SQUANT_CLI_PATH);
  return Run(args);
}

inline std::string SamplePath(const std::string& name) {
  return std::string(SQUANT_SAMPLES_DIR) + "/" + name;
}

}  // namespace squant::testing

#endif  // SQUANT_TESTS_CLI_CLI_RUNNER_H_
