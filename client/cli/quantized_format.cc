#include "client/cli/quantized_format.h"

#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "client/cli/version.h"
#include "nlohmann/json.hpp"

namespace squant::cli {

std::map<std::string, std::string> QuantizedMetadata(
    const SelectionRules& rules, absl::Span<const LayerTask> tasks) {
  nlohmann::json overrides = nlohmann::json::array();
  for (const BitsOverride& bits_override : rules.bits_overrides) {
    overrides.push_back(
        {{"pattern", bits_override.pattern}, {"bits", bits_override.bits}});
  }
  nlohmann::json layers = nlohmann::json::object();
  for (const LayerTask& task : tasks) {
    layers[task.tensor->name] = {
        {"shape", task.tensor->shape},
        {"dtype", task.tensor->dtype},
        {"bits", task.options.bits},
        {"mode", std::string(ModeName(task.options.mode))},
        {"grid", std::string(GridName(task.options.grid))},
        {"packed", task.pack}};
  }
  return {
      {"quantization_method", "squant"},
      {"squant.tool_version", absl::StrCat("squant-cli ", kToolVersion)},
      {"squant.bits", absl::StrCat(rules.defaults.bits)},
      {"squant.mode", std::string(ModeName(rules.defaults.mode))},
      {"squant.grid", std::string(GridName(rules.defaults.grid))},
      {"squant.pack", rules.pack ? "true" : "false"},
      {"squant.bits_overrides", overrides.dump()},
      {kLayersKey, layers.dump()},
  };
}

absl::StatusOr<std::map<std::string, QuantizedTensorRecord>> ReadRecords(
    const std::map<std::string, std::string>& metadata) {
  std::map<std::string, QuantizedTensorRecord> records;
  const auto it = metadata.find(kLayersKey);
  if (it == metadata.end()) return records;
  const nlohmann::json layers = nlohmann::json::parse(
      it->second, /*cb=*/nullptr, /*allow_exceptions=*/false);
  if (!layers.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat("__metadata__ ", kLayersKey, " is not a JSON object"));
  }
  for (const auto& [name, entry] : layers.items()) {
    const auto bad = [&name = name](absl::string_view what) {
      return absl::InvalidArgumentError(absl::StrCat(
          "__metadata__ ", kLayersKey, " entry '", name, "': ", what));
    };
    if (!entry.is_object() || !entry.contains("shape") ||
        !entry["shape"].is_array() || !entry.contains("bits") ||
        !entry["bits"].is_number_integer() || !entry.contains("mode") ||
        !entry["mode"].is_string() || !entry.contains("grid") ||
        !entry["grid"].is_string()) {
      return bad("needs shape, bits, mode and grid");
    }
    QuantizedTensorRecord record;
    for (const nlohmann::json& dim : entry["shape"]) {
      if (!dim.is_number_integer() || dim.get<int64_t>() < 1) {
        return bad("shape entries must be positive integers");
      }
      record.shape.push_back(dim.get<int64_t>());
    }
    if (entry.contains("dtype") && entry["dtype"].is_string()) {
      record.dtype = entry["dtype"].get<std::string>();
    }
    record.options.bits = entry["bits"].get<int>();
    absl::StatusOr<Mode> mode = ParseMode(entry["mode"].get<std::string>());
    absl::StatusOr<Grid> grid = ParseGrid(entry["grid"].get<std::string>());
    if (!mode.ok()) return bad(mode.status().message());
    if (!grid.ok()) return bad(grid.status().message());
    record.options.mode = *mode;
    record.options.grid = *grid;
    record.packed = entry.contains("packed") && entry["packed"].is_boolean() &&
                    entry["packed"].get<bool>();
    records[name] = std::move(record);
  }
  return records;
}

}  // namespace squant::cli
