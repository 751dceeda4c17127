// Names of modes, grids and dtypes as users and files spell them.

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "core/squant.h"

namespace squant {

absl::string_view ModeName(Mode mode) {
  switch (mode) {
    case Mode::kSquant:
      return "squant";
    case Mode::kSquantK:
      return "squant-k";
    case Mode::kSquantC:
      return "squant-c";
    case Mode::kSquantE:
      return "squant-e";
  }
  return "?";
}

absl::StatusOr<Mode> ParseMode(absl::string_view name) {
  for (Mode mode :
       {Mode::kSquant, Mode::kSquantK, Mode::kSquantC, Mode::kSquantE}) {
    if (name == ModeName(mode)) return mode;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown mode '", name, "' (squant, squant-k, squant-c, squant-e)"));
}

absl::string_view GridName(Grid grid) {
  return grid == Grid::kSymmetric ? "symmetric" : "asymmetric";
}

absl::StatusOr<Grid> ParseGrid(absl::string_view name) {
  for (Grid grid : {Grid::kAsymmetric, Grid::kSymmetric}) {
    if (name == GridName(grid)) return grid;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown grid '", name, "' (asymmetric, symmetric)"));
}

absl::string_view DTypeName(DType dtype) {
  switch (dtype) {
    case DType::kF32:
      return "F32";
    case DType::kF16:
      return "F16";
    case DType::kBF16:
      return "BF16";
  }
  return "?";
}

absl::StatusOr<DType> ParseDType(absl::string_view name) {
  for (DType dtype : {DType::kF32, DType::kF16, DType::kBF16}) {
    if (name == DTypeName(dtype)) return dtype;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unsupported dtype '", name, "' (F32, F16, BF16)"));
}

int DTypeSize(DType dtype) { return dtype == DType::kF32 ? 4 : 2; }

}  // namespace squant
