#ifndef SQUANT_CLIENT_CLI_OPEN_INPUT_H_
#define SQUANT_CLIENT_CLI_OPEN_INPUT_H_

#include <string>

#include "absl/status/statusor.h"
#include "safetensors/safetensors.h"

namespace squant::cli {

// Maps and validates a safetensors file; errors name the file and carry
// ExitCode::kInput.
absl::StatusOr<safetensors::MappedFile> OpenInput(const std::string& path);

}  // namespace squant::cli

#endif  // SQUANT_CLIENT_CLI_OPEN_INPUT_H_
