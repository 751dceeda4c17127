// The shared golden vectors (SQUANT_GOLDEN_DIR) as CLI inputs and the check
// of a CLI output against them.

#ifndef SQUANT_TESTS_CLI_GOLDEN_CASES_H_
#define SQUANT_TESTS_CLI_GOLDEN_CASES_H_

#include <string>
#include <vector>

#include "absl/status/status.h"

namespace squant::testing {

struct GoldenCase {
  std::string path;
  std::string bits;  // as the CLI takes them
  std::string mode;
};

// Every case*.safetensors in the golden folder, sorted.
std::vector<GoldenCase> GoldenCases();

// Writes the case's "weight" (its own dtype and shape) as the only tensor
// of a model, named "weight".
absl::Status WriteGoldenInput(const GoldenCase& golden,
                              const std::string& path);

// Checks squant-cli's output for the case: per channel, q_stable (or q)
// exactly, zero_point == -z and scale within one ulp of 1/s; channels with
// |z| >= 2^24 by the degenerate-channel rule of SQUANT.md (every q =
// sign(c), zero_point 0, scale |c|, c = (lo + hi) / 2, 1 when c == 0).
absl::Status CheckAgainstGolden(const GoldenCase& golden,
                                const std::string& output_path);

}  // namespace squant::testing

#endif  // SQUANT_TESTS_CLI_GOLDEN_CASES_H_
