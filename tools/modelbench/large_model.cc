#include "tools/modelbench/large_model.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tools/modelbench/verifying_sink.h"
#include "tools/modelbench/weight_source.h"

namespace squant::modelbench {
namespace {

// The expected results of the layers named in `names`, from the same
// chunks the stream will send.
absl::StatusOr<std::map<size_t, ExpectedLayer>> ExpectLayers(
    const bench::ModelShapes& model, const std::vector<std::string>& names,
    const ChunkSource& source, const LargeModelConfig& config) {
  std::map<size_t, ExpectedLayer> expected;
  for (const std::string& name : names) {
    size_t index = 0;
    while (index < model.layers.size() && model.layers[index].name != name) {
      ++index;
    }
    if (index == model.layers.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat("no layer '", name, "' in ", model.name));
    }
    const bench::LayerShape& layer = model.layers[index];
    std::vector<uint8_t> bytes(layer.elements() * 2);
    const uint64_t chunk = config.bench.stream.chunk_bytes;
    for (uint64_t offset = 0; offset < bytes.size(); offset += chunk) {
      const absl::Span<const uint8_t> piece = source(
          index, offset, std::min<uint64_t>(chunk, bytes.size() - offset));
      std::copy(piece.begin(), piece.end(), bytes.begin() + offset);
    }
    absl::StatusOr<ExpectedLayer> layer_expected =
        ExpectFromCore({DType::kF16, layer.shape, bytes}, config.bench.quant,
                       config.bench.core_threads);
    if (!layer_expected.ok()) return layer_expected.status();
    expected[index] = *std::move(layer_expected);
  }
  return expected;
}

}  // namespace

absl::Status RunLargeModel(grpc::Channel& channel,
                           const bench::ModelShapes& model,
                           const LargeModelConfig& config) {
  const double input_gb = model.elements() * 2 / 1e9;
  std::printf(
      "%s: %zu layers, %.3f G weights, %.2f GB of F16 in; window %d "
      "layers / %llu MiB; %.0f MiB pool of random F16\n",
      model.name.c_str(), model.layers.size(), model.elements() / 1e9, input_gb,
      config.bench.stream.window_layers,
      static_cast<unsigned long long>(config.bench.stream.window_bytes >> 20),
      config.pool_bytes / 1048576.0);
  absl::Time start = absl::Now();
  const F16Pool pool(config.pool_bytes, config.bench.seed);
  const ChunkSource source = [&](size_t layer, uint64_t offset, uint64_t size) {
    return pool.Chunk(layer, offset, size);
  };
  absl::StatusOr<std::map<size_t, ExpectedLayer>> expected =
      ExpectLayers(model, config.verify_layers, source, config);
  if (!expected.ok()) return expected.status();
  std::printf("setup (pool, expected results of %zu layers): %.1f s\n",
              expected->size(), absl::ToDoubleSeconds(absl::Now() - start));
  std::fflush(stdout);

  RunTimes times;
  for (int rep = 0; rep < config.bench.reps; ++rep) {
    VerifyingSink sink(model, *expected);
    const double cpu_start = ProcessCpuSeconds();
    start = absl::Now();
    absl::StatusOr<StreamTotals> totals =
        StreamModel(channel, model, source, sink, config.bench.stream);
    const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
    if (!totals.ok()) return totals.status();
    if (sink.verified_layers() != static_cast<int64_t>(expected->size())) {
      return absl::InternalError("a verified layer's result never came");
    }
    times.Add(seconds);
    std::printf(
        "run %d: %.2f s, %.2f GB/s in, %.0f M weights/s; %.0f MB out, "
        "checksum %016llx; server: quantize %.1f s, queue %.1f s (sums over "
        "layers); client CPU %.1f s\n",
        rep + 1, seconds, input_gb / seconds, model.elements() / seconds / 1e6,
        totals->bytes_received / 1e6,
        static_cast<unsigned long long>(sink.checksum()),
        totals->server_quantize_seconds, totals->server_queue_seconds,
        ProcessCpuSeconds() - cpu_start);
    std::fflush(stdout);
  }
  std::printf(
      "%s end to end: best %.2f s, median %.2f s; best %.2f GB/s, "
      "%.0f M weights/s; %zu layers verified against the core\n",
      model.name.c_str(), times.best(), times.median(), input_gb / times.best(),
      model.elements() / times.best() / 1e6, expected->size());
  return absl::OkStatus();
}

}  // namespace squant::modelbench
