// The subcommands, each run from its parsed command line.

#ifndef SQUANT_CLIENT_CLI_COMMANDS_H_
#define SQUANT_CLIENT_CLI_COMMANDS_H_

#include "absl/status/status.h"
#include "client/cli/command_line.h"

namespace squant::cli {

absl::Status RunQuantize(const QuantizeCommand& command);
absl::Status RunInspect(const InspectCommand& command);
absl::Status RunDequantize(const DequantizeCommand& command);

}  // namespace squant::cli

#endif  // SQUANT_CLIENT_CLI_COMMANDS_H_
