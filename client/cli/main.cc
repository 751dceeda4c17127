// squant-cli: quantize safetensors models with SQuant, through squant-server
// replicas or in-process. See client/README.md.

#include <cstdio>
#include <variant>

#include "absl/strings/str_format.h"
#include "client/cli/command_line.h"
#include "client/cli/commands.h"
#include "client/cli/exit_code.h"

namespace {

struct Dispatch {
  absl::Status operator()(const squant::cli::QuantizeCommand& command) {
    return squant::cli::RunQuantize(command);
  }
  absl::Status operator()(const squant::cli::InspectCommand& command) {
    return squant::cli::RunInspect(command);
  }
  absl::Status operator()(const squant::cli::DequantizeCommand& command) {
    return squant::cli::RunDequantize(command);
  }
  absl::Status operator()(const squant::cli::HelpCommand& command) {
    absl::PrintF("%s", command.text);
    return absl::OkStatus();
  }
};

}  // namespace

int main(int argc, char** argv) {
  absl::StatusOr<squant::cli::Command> command =
      squant::cli::ParseCommandLine(argc, argv);
  absl::Status status =
      command.ok() ? std::visit(Dispatch{}, *command) : command.status();
  if (!status.ok()) {
    absl::FPrintF(stderr, "squant-cli: error: %s\n", status.message());
  }
  return static_cast<int>(squant::cli::ExitCodeOf(status));
}
