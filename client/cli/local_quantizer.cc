#include "client/cli/local_quantizer.h"

#include <cstdint>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "client/cli/exit_code.h"
#include "client/cli/page_release.h"

namespace squant::cli {

absl::Status QuantizeLocally(absl::Span<const LayerTask> tasks, int threads,
                             QuantizedModelWriter& out, Progress& progress,
                             std::vector<LayerReport>& reports) {
  for (size_t i = 0; i < tasks.size(); ++i) {
    const LayerTask& task = tasks[i];
    const absl::Time start = absl::Now();
    absl::StatusOr<QuantizedLayer> layer =
        Quantize(task.weights(), task.options, threads);
    if (!layer.ok()) {
      return WithExitCode(
          absl::Status(layer.status().code(),
                       absl::StrCat("tensor '", task.tensor->name,
                                    "': ", layer.status().message())),
          ExitCode::kInput);
    }
    reports[i].seconds = absl::ToDoubleSeconds(absl::Now() - start);
    reports[i].stats = layer->stats;
    reports[i].worker = "local";
    ReleaseMappedPages(task.data);

    absl::Status status =
        out.WriteScaleAndZeroPoint(i, layer->scale, layer->zero_point);
    if (!status.ok()) return status;
    if (task.pack) {
      const std::vector<uint8_t> packed =
          PackInt4(layer->values, layer->geometry);
      status = out.WriteValues(i, 0, packed);
    } else {
      status = out.WriteValues(
          i, 0,
          absl::MakeConstSpan(
              reinterpret_cast<const uint8_t*>(layer->values.data()),
              layer->values.size()));
    }
    if (!status.ok()) return status;
    progress.LayerDone(task.data.size());
  }
  return absl::OkStatus();
}

}  // namespace squant::cli
