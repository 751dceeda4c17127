#include "client/cli/report.h"

#include <algorithm>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "nlohmann/json.hpp"

namespace squant::cli {
namespace {

struct Totals {
  int64_t elements = 0;
  int64_t kernel_flips = 0;
  int64_t channel_flips = 0;
  double squared_error_squant = 0;
  double squared_error_rtn = 0;
  double seconds = 0;
  double mse_squant() const {
    return elements ? squared_error_squant / elements : 0;
  }
  double mse_rtn() const { return elements ? squared_error_rtn / elements : 0; }
};

Totals Sum(const RunReport& report) {
  Totals totals;
  for (const LayerReport& layer : report.layers) {
    totals.elements += layer.stats.elements;
    totals.kernel_flips += layer.stats.kernel_flips;
    totals.channel_flips += layer.stats.channel_flips;
    totals.squared_error_squant +=
        layer.stats.mse_squant * layer.stats.elements;
    totals.squared_error_rtn += layer.stats.mse_rtn * layer.stats.elements;
    totals.seconds += layer.seconds;
  }
  return totals;
}

std::string Ratio(double squant, double rtn) {
  return rtn > 0 ? absl::StrFormat("%.3f", squant / rtn) : "-";
}

}  // namespace

LayerReport ReportFor(const LayerTask& task) {
  LayerReport report;
  report.name = task.tensor->name;
  report.shape = task.tensor->shape;
  report.dtype = task.tensor->dtype;
  report.options = task.options;
  report.packed = task.pack;
  return report;
}

void PrintTable(const RunReport& report, std::FILE* out) {
  size_t name_width = 6;
  for (const LayerReport& layer : report.layers) {
    name_width = std::max(name_width, layer.name.size());
  }
  const int width = static_cast<int>(std::min<size_t>(name_width, 48));
  absl::FPrintF(out, "%-*s %-16s %4s %-8s %9s %9s %11s %11s %7s\n", width,
                "tensor", "shape", "bits", "mode", "time ms", "flips",
                "MSE squant", "MSE RTN", "ratio");
  for (const LayerReport& layer : report.layers) {
    absl::FPrintF(out, "%-*s %-16s %4d %-8s %9.2f %9d %11.4g %11.4g %7s\n",
                  width, layer.name, absl::StrJoin(layer.shape, "x"),
                  layer.options.bits, ModeName(layer.options.mode),
                  layer.seconds * 1e3,
                  layer.stats.kernel_flips + layer.stats.channel_flips,
                  layer.stats.mse_squant, layer.stats.mse_rtn,
                  Ratio(layer.stats.mse_squant, layer.stats.mse_rtn));
  }
  const Totals totals = Sum(report);
  absl::FPrintF(out, "%-*s %-16s %4s %-8s %9.2f %9d %11.4g %11.4g %7s\n", width,
                "total", absl::StrCat(totals.elements, " w"), "", "",
                totals.seconds * 1e3,
                totals.kernel_flips + totals.channel_flips, totals.mse_squant(),
                totals.mse_rtn(), Ratio(totals.mse_squant(), totals.mse_rtn()));
  absl::FPrintF(
      out,
      "%d tensors quantized, %d copied; %.2f MB in, %.2f MB out; %.2f s wall "
      "via %s",
      report.layers.size(), report.copied_tensors, report.input_bytes / 1e6,
      report.output_bytes / 1e6, report.wall_seconds, report.target);
  if (report.streams > 0) {
    absl::FPrintF(out, " (%d streams, %d restarted)", report.streams,
                  report.stream_retries);
  }
  absl::FPrintF(out,
                "\nflips = elements moved off round-to-nearest (kernel + "
                "channel stages); ratio = MSE squant / MSE RTN\n");
}

std::string ReportJson(const RunReport& report) {
  nlohmann::json layers = nlohmann::json::array();
  for (const LayerReport& layer : report.layers) {
    const LayerStats& stats = layer.stats;
    layers.push_back({
        {"name", layer.name},
        {"shape", layer.shape},
        {"dtype", layer.dtype},
        {"bits", layer.options.bits},
        {"mode", std::string(ModeName(layer.options.mode))},
        {"grid", std::string(GridName(layer.options.grid))},
        {"packed", layer.packed},
        {"seconds", layer.seconds},
        {"worker", layer.worker},
        {"elements", stats.elements},
        {"kernel_flips", stats.kernel_flips},
        {"channel_flips", stats.channel_flips},
        {"clamped_elements", stats.clamped_elements},
        {"degenerate_channels", stats.degenerate_channels},
        {"max_kernel_error_sum_before", stats.max_kernel_error_sum_before},
        {"max_kernel_error_sum_after", stats.max_kernel_error_sum_after},
        {"max_channel_error_sum_before", stats.max_channel_error_sum_before},
        {"max_channel_error_sum_after", stats.max_channel_error_sum_after},
        {"mse_squant", stats.mse_squant},
        {"mse_rtn", stats.mse_rtn},
    });
  }
  const Totals totals = Sum(report);
  const nlohmann::json json = {
      {"input", report.input},
      {"output", report.output},
      {"target", report.target},
      {"streams", report.streams},
      {"stream_retries", report.stream_retries},
      {"layers", layers},
      {"totals",
       {{"quantized_tensors", report.layers.size()},
        {"copied_tensors", report.copied_tensors},
        {"elements", totals.elements},
        {"kernel_flips", totals.kernel_flips},
        {"channel_flips", totals.channel_flips},
        {"mse_squant", totals.mse_squant()},
        {"mse_rtn", totals.mse_rtn()},
        {"quantize_seconds", totals.seconds},
        {"input_bytes", report.input_bytes},
        {"output_bytes", report.output_bytes},
        {"wall_seconds", report.wall_seconds}}},
  };
  return json.dump(2);
}

}  // namespace squant::cli
