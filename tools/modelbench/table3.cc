#include "tools/modelbench/table3.h"

#include <cstdio>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "tools/modelbench/verifying_sink.h"
#include "tools/modelbench/weight_source.h"

namespace squant::modelbench {
namespace {

// Table 3 of the paper: 4-bit SQuant on an A100, milliseconds.
double PaperA100Ms(const std::string& model) {
  static const auto* kTimes =
      new std::map<std::string, double>{{"resnet18", 84},
                                        {"resnet50", 188},
                                        {"inception_v3", 298},
                                        {"sqnxt23_w2", 272},
                                        {"shufflenet_g1_w1", 121}};
  auto it = kTimes->find(model);
  return it == kTimes->end() ? 0 : it->second;
}

struct Row {
  RunTimes end_to_end;
  RunTimes client_cpu;  // of each end-to-end run
  RunTimes core;
};

// The model's weights, kept whole: these networks are small.
struct ModelWeights {
  std::vector<std::vector<uint8_t>> bytes;
  std::vector<WeightTensor> tensors;
};

ModelWeights RandomWeights(const bench::ModelShapes& model, uint64_t seed) {
  ModelWeights weights;
  weights.bytes.reserve(model.layers.size());
  for (size_t i = 0; i < model.layers.size(); ++i) {
    weights.bytes.push_back(
        RandomF32Layer(model.layers[i].elements(), seed * 1000 + i));
    weights.tensors.push_back(
        {DType::kF32, model.layers[i].shape, weights.bytes.back()});
  }
  return weights;
}

// Times the core alone; the first repetition's output is what the server
// must return.
absl::StatusOr<std::map<size_t, ExpectedLayer>> TimeCore(
    const ModelWeights& weights, const BenchConfig& config, RunTimes& times) {
  std::map<size_t, ExpectedLayer> expected;
  std::vector<QuantizedLayer> layers(weights.tensors.size());
  for (int rep = 0; rep < config.reps; ++rep) {
    const absl::Time start = absl::Now();
    for (size_t i = 0; i < weights.tensors.size(); ++i) {
      absl::StatusOr<QuantizedLayer> layer =
          Quantize(weights.tensors[i], config.quant, config.core_threads);
      if (!layer.ok()) return layer.status();
      layers[i] = *std::move(layer);
    }
    times.Add(absl::ToDoubleSeconds(absl::Now() - start));
    if (rep == 0) {
      for (size_t i = 0; i < layers.size(); ++i) {
        expected[i] = Expect(layers[i]);
      }
    }
  }
  return expected;
}

absl::StatusOr<Row> RunModel(grpc::Channel& channel,
                             const bench::ModelShapes& model, uint64_t seed,
                             const BenchConfig& config) {
  const ModelWeights weights = RandomWeights(model, seed);
  Row row;
  absl::StatusOr<std::map<size_t, ExpectedLayer>> expected =
      TimeCore(weights, config, row.core);
  if (!expected.ok()) return expected.status();
  const ChunkSource source = [&](size_t layer, uint64_t offset, uint64_t size) {
    return absl::MakeConstSpan(weights.bytes[layer]).subspan(offset, size);
  };
  for (int rep = 0; rep < config.reps; ++rep) {
    VerifyingSink sink(model, *expected);
    const double cpu_start = ProcessCpuSeconds();
    const absl::Time start = absl::Now();
    absl::StatusOr<StreamTotals> totals =
        StreamModel(channel, model, source, sink, config.stream);
    const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
    if (!totals.ok()) return totals.status();
    if (sink.verified_layers() != static_cast<int64_t>(model.layers.size())) {
      return absl::InternalError(absl::StrCat(
          model.name, ": only ", sink.verified_layers(), " layers verified"));
    }
    row.end_to_end.Add(seconds);
    row.client_cpu.Add(ProcessCpuSeconds() - cpu_start);
  }
  return row;
}

}  // namespace

absl::Status RunTable3(grpc::Channel& channel,
                       const std::vector<bench::ModelShapes>& models,
                       const BenchConfig& config) {
  std::printf(
      "4-bit SQuant, random normal F32 weights, %d repetitions; end to end "
      "through the server, core = squant::Quantize in process on %d "
      "thread(s); every layer's values, scales and zero points checked "
      "against the core; client cpu: this process's CPU time per end-to-end "
      "run (median).\n"
      "%-17s %6s %10s %10s %10s %10s %10s %9s %9s\n",
      config.reps, config.core_threads, "model", "layers", "weights",
      "e2e best", "e2e median", "client cpu", "core best", "A100", "e2e/A100");
  for (size_t m = 0; m < models.size(); ++m) {
    const bench::ModelShapes& model = models[m];
    absl::StatusOr<Row> row = RunModel(channel, model, config.seed + m, config);
    if (!row.ok()) {
      return absl::Status(
          row.status().code(),
          absl::StrCat(model.name, ": ", row.status().message()));
    }
    const double a100 = PaperA100Ms(model.name);
    const double best_ms = row->end_to_end.best() * 1e3;
    std::printf(
        "%-17s %6zu %10lld %8.1fms %8.1fms %8.1fms %8.1fms %7.0fms %9s\n",
        model.name.c_str(), model.layers.size(),
        static_cast<long long>(model.elements()), best_ms,
        row->end_to_end.median() * 1e3, row->client_cpu.median() * 1e3,
        row->core.best() * 1e3, a100,
        a100 > 0 ? absl::StrFormat("%.2f", best_ms / a100).c_str() : "-");
    std::fflush(stdout);
  }
  return absl::OkStatus();
}

}  // namespace squant::modelbench
