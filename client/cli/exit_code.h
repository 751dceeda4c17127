// Exit codes that scripts can rely on, carried through absl::Status as a
// payload so that the layer that knows what failed (the input file, the
// server, the output file) decides, and main() only reads it.

#ifndef SQUANT_CLIENT_CLI_EXIT_CODE_H_
#define SQUANT_CLIENT_CLI_EXIT_CODE_H_

#include "absl/status/status.h"

namespace squant::cli {

enum class ExitCode {
  kOk = 0,
  kUsage = 1,   // bad command line
  kInput = 2,   // input file unreadable or malformed, a tensor rejected
  kServer = 3,  // server unreachable, RPC failed, deadline exceeded
  kOutput = 4,  // output file cannot be written
};

// Returns `status` marked with `code` (an OK status stays OK).
absl::Status WithExitCode(absl::Status status, ExitCode code);

// The code marked on `status`; kServer for an unmarked error.
ExitCode ExitCodeOf(const absl::Status& status);

}  // namespace squant::cli

#endif  // SQUANT_CLIENT_CLI_EXIT_CODE_H_
