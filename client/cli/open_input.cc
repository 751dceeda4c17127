#include "client/cli/open_input.h"

#include "client/cli/exit_code.h"

namespace squant::cli {

absl::StatusOr<safetensors::MappedFile> OpenInput(const std::string& path) {
  absl::StatusOr<safetensors::MappedFile> file =
      safetensors::MappedFile::Open(path);
  if (!file.ok()) return WithExitCode(file.status(), ExitCode::kInput);
  return file;
}

}  // namespace squant::cli
