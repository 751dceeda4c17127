// The SQuant core on whole models (every conv and fc weight of torchvision's
// ResNet-18 and ResNet-50, random normal, 4-bit, mode squant), against a
// round-to-nearest baseline pass on the same input in the same run, on one
// and two threads, and on ResNet-50's 1x1 (with fc) and 3x3 layers apart.
// Ends with a summary: ms per model, ns per weight and the SQuant/RTN ratio
// (best repetition of each). Then the same from passes that alternate: one
// round-to-nearest pass, one SQuant pass, and so on, their medians and the
// median of each pair's ratio. This machine's speed drifts in spells of a
// tenth of a second to minutes; a pair shares its spell, so the paired
// ratio holds still where separate benchmarks' ratios swing.
//
//   core_bench [--benchmark_repetitions=5] [--benchmark_filter=resnet50]

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "absl/strings/str_split.h"
#include "absl/types/span.h"
#include "bench/median.h"
#include "bench/model_shapes.h"
#include "bench/rtn_baseline.h"
#include "benchmark/benchmark.h"
#include "core/squant.h"

namespace squant::bench {
namespace {

constexpr int kBits = 4;

// One model's random weights and preallocated outputs.
struct ModelData {
  struct Layer {
    std::vector<float> weights;
    WeightTensor tensor;
    LayerGeometry geometry;
    QuantizedLayer squant;
    std::vector<int8_t> rtn_values;
    std::vector<float> rtn_scale;
    std::vector<int32_t> rtn_zero_point;
  };
  ModelShapes shapes;
  std::vector<std::unique_ptr<Layer>> layers;
};

const ModelData& Model(const ModelShapes& shapes) {
  static auto* cache = new std::map<std::string, std::unique_ptr<ModelData>>;
  std::unique_ptr<ModelData>& data = (*cache)[shapes.name];
  if (data) return *data;
  data = std::make_unique<ModelData>();
  data->shapes = shapes;
  std::mt19937 rng(2022);
  std::normal_distribution<float> normal(0.0f, 0.05f);
  const QuantOptions options{kBits, Mode::kSquant, Grid::kAsymmetric};
  for (const LayerShape& shape : shapes.layers) {
    auto layer = std::make_unique<ModelData::Layer>();
    layer->weights.resize(shape.elements());
    for (float& w : layer->weights) w = normal(rng);
    layer->tensor = WeightTensor{
        DType::kF32, shape.shape,
        absl::MakeConstSpan(
            reinterpret_cast<const uint8_t*>(layer->weights.data()),
            layer->weights.size() * sizeof(float))};
    layer->geometry = *ValidateLayer(layer->tensor, options);
    layer->squant = AllocateOutput(layer->geometry, options);
    layer->rtn_values.resize(shape.elements());
    layer->rtn_scale.resize(layer->geometry.channels);
    layer->rtn_zero_point.resize(layer->geometry.channels);
    data->layers.push_back(std::move(layer));
  }
  return *data;
}

// Runs work(first, last) over every layer's channels split into `threads`
// blocks, one block of every layer per thread: the layers are independent,
// so no thread waits for another until the model is done.
void ForEachBlock(
    const ModelData& model, int threads,
    const std::function<void(ModelData::Layer&, int64_t, int64_t)>& work) {
  auto run = [&](int t) {
    for (const auto& layer : model.layers) {
      const int64_t channels = layer->geometry.channels;
      work(*layer, channels * t / threads, channels * (t + 1) / threads);
    }
  };
  std::vector<std::thread> helpers;
  for (int t = 1; t < threads; ++t) helpers.emplace_back(run, t);
  run(0);
  for (std::thread& helper : helpers) helper.join();
}

using LayerWork = std::function<void(ModelData::Layer&, int64_t, int64_t)>;

void RunModel(benchmark::State& state, const ModelShapes& shapes, int threads,
              const LayerWork& work) {
  const ModelData& model = Model(shapes);
  for (auto _ : state) ForEachBlock(model, threads, work);
  state.SetItemsProcessed(state.iterations() * shapes.elements());
}

// Alternates an `rtn` pass and a `squant` pass over the model, each timed
// (manual time: the pair's); reports their medians and the median ratio.
void RunPaired(benchmark::State& state, const ModelShapes& shapes, int threads,
               const LayerWork& rtn, const LayerWork& squant) {
  const ModelData& model = Model(shapes);
  std::vector<double> rtn_ms, squant_ms, ratios;
  auto timed_ms = [&](const LayerWork& work) {
    const auto start = std::chrono::steady_clock::now();
    ForEachBlock(model, threads, work);
    return std::chrono::duration<double, std::milli>(
               std::chrono::steady_clock::now() - start)
        .count();
  };
  for (auto _ : state) {
    rtn_ms.push_back(timed_ms(rtn));
    squant_ms.push_back(timed_ms(squant));
    ratios.push_back(squant_ms.back() / rtn_ms.back());
    state.SetIterationTime((rtn_ms.back() + squant_ms.back()) / 1e3);
  }
  state.counters["rtn_ms"] = Median(rtn_ms);
  state.counters["squant_ms"] = Median(squant_ms);
  state.counters["squant_best_ms"] =
      *std::min_element(squant_ms.begin(), squant_ms.end());
  state.counters["ratio"] = Median(ratios);
}

void SQuantBlock(ModelData::Layer& layer, int64_t first, int64_t last) {
  const absl::Status status =
      QuantizeChannels(layer.tensor, layer.geometry, first, last, layer.squant);
  if (!status.ok()) std::abort();
}

void ReferenceBlock(ModelData::Layer& layer, int64_t first, int64_t last) {
  const absl::Status status = QuantizeChannelsReference(
      layer.tensor, layer.geometry, first, last, layer.squant);
  if (!status.ok()) std::abort();
}

void RtnBlock(ModelData::Layer& layer, int64_t first, int64_t last) {
  RoundToNearestChannels(layer.weights.data(), layer.geometry.channel_size(),
                         kBits, first, last, layer.rtn_values.data(),
                         layer.rtn_scale.data(), layer.rtn_zero_point.data());
}

// ResNet-50's layers of one kernel size (the product of the dimensions
// past [out, in]; fc is 1): the 1x1 layers take a channel stage only, the
// 3x3 ones the lane-wise kernel stage first, and their costs differ.
ModelShapes ResNet50WithKernel(int64_t kernel_size, const std::string& name) {
  ModelShapes subset{name, {}};
  for (const LayerShape& layer : ResNet50().layers) {
    int64_t size = 1;
    for (size_t d = 2; d < layer.shape.size(); ++d) size *= layer.shape[d];
    if (size == kernel_size) subset.layers.push_back(layer);
  }
  return subset;
}

// The whole models on one and two threads and with the reference, and
// ResNet-50 split by kernel size on one thread.
struct BenchModel {
  ModelShapes shapes;
  std::vector<int> thread_counts;
  bool with_reference;
};
const std::vector<BenchModel>& BenchModels() {
  static const auto* models = new std::vector<BenchModel>{
      {ResNet18(), {1, 2}, true},
      {ResNet50(), {1, 2}, true},
      {ResNet50WithKernel(1, "resnet50-1x1"), {1}, false},
      {ResNet50WithKernel(9, "resnet50-3x3"), {1}, false}};
  return *models;
}

void RegisterAll() {
  for (const BenchModel& model : BenchModels()) {
    const ModelShapes& shapes = model.shapes;
    for (int threads : model.thread_counts) {
      for (const auto& [kind, work] :
           std::vector<std::pair<std::string, LayerWork>>{
               {"rtn", RtnBlock}, {"squant", SQuantBlock}}) {
        benchmark::RegisterBenchmark(
            (kind + "/" + shapes.name + "/threads:" + std::to_string(threads))
                .c_str(),
            [shapes, threads, work = work](benchmark::State& state) {
              RunModel(state, shapes, threads, work);
            })
            ->Unit(benchmark::kMillisecond)
            ->UseRealTime();
      }
    }
    for (int threads : model.thread_counts) {
      benchmark::RegisterBenchmark(
          ("paired/" + shapes.name + "/threads:" + std::to_string(threads))
              .c_str(),
          [shapes, threads](benchmark::State& state) {
            RunPaired(state, shapes, threads, RtnBlock, SQuantBlock);
          })
          ->Unit(benchmark::kMillisecond)
          ->UseManualTime();
    }
    if (!model.with_reference) continue;
    benchmark::RegisterBenchmark(
        ("reference/" + shapes.name + "/threads:1").c_str(),
        [shapes](benchmark::State& state) {
          RunModel(state, shapes, 1, ReferenceBlock);
        })
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime()
        ->Iterations(1);
  }
}

// Prints the usual table, then one summary line per model and thread
// count from the best repetition of each benchmark.
class SummaryReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& run : runs) {
      if (run.run_type != Run::RT_Iteration || run.error_occurred) continue;
      // "kind/model/threads:N/..."
      const std::vector<std::string> parts =
          absl::StrSplit(run.benchmark_name(), '/');
      if (parts.size() < 3) continue;
      if (parts[0] == "paired") {
        Paired& paired = paired_[Key{parts[1], parts[2], ""}];
        paired.squant_ms.push_back(run.counters.at("squant_ms"));
        paired.squant_best_ms.push_back(run.counters.at("squant_best_ms"));
        paired.rtn_ms.push_back(run.counters.at("rtn_ms"));
        paired.ratio.push_back(run.counters.at("ratio"));
        continue;
      }
      const Times times{run.real_accumulated_time / run.iterations,
                        run.cpu_accumulated_time / run.iterations};
      const Key key{parts[1], parts[2], parts[0]};
      auto [it, inserted] = best_.emplace(key, times);
      if (!inserted && times.real < it->second.real) it->second = times;
    }
  }

  void Finalize() override {
    ConsoleReporter::Finalize();
    std::printf(
        "\nSummary (best repetition by wall time; 4-bit squant, random normal "
        "weights).\nCPU ms is the calling thread's CPU time: with 2 threads, "
        "its own half;\non a loaded machine it is closer to the quiet-machine "
        "wall time.\n"
        "%-13s %-10s %9s %9s %9s %9s %7s %7s %10s %9s\n",
        "model", "threads", "squant ms", "cpu ms", "rtn ms", "cpu ms", "ratio",
        "(cpu)", "ns/weight", "ref ms");
    for (const BenchModel& model : BenchModels()) {
      const ModelShapes& shapes = model.shapes;
      for (const char* threads : {"threads:1", "threads:2"}) {
        const Times squant = Find(shapes.name, threads, "squant");
        const Times rtn = Find(shapes.name, threads, "rtn");
        const Times reference = Find(shapes.name, threads, "reference");
        if (squant.real <= 0 || rtn.real <= 0) continue;
        const double weights = static_cast<double>(shapes.elements());
        std::printf(
            "%-13s %-10s %9.2f %9.2f %9.2f %9.2f %7.2f %7.2f %10.3f %9s\n",
            shapes.name.c_str(), threads, squant.real * 1e3, squant.cpu * 1e3,
            rtn.real * 1e3, rtn.cpu * 1e3, squant.real / rtn.real,
            squant.cpu / rtn.cpu, squant.real * 1e9 / weights,
            reference.real > 0
                ? std::to_string(static_cast<int>(reference.real * 1e3)).c_str()
                : "-");
      }
    }
    std::printf(
        "\nPaired passes (round to nearest, then SQuant, alternating; medians "
        "over the\npasses of a repetition, then the median over "
        "repetitions).\n%-13s %-10s %9s %9s %9s %7s\n",
        "model", "threads", "squant ms", "best ms", "rtn ms", "ratio");
    for (const auto& [key, paired] : paired_) {
      std::printf("%-13s %-10s %9.2f %9.2f %9.2f %7.2f\n",
                  std::get<0>(key).c_str(), std::get<1>(key).c_str(),
                  Median(paired.squant_ms), Median(paired.squant_best_ms),
                  Median(paired.rtn_ms), Median(paired.ratio));
    }
  }

 private:
  struct Paired {
    std::vector<double> squant_ms, squant_best_ms, rtn_ms, ratio;
  };
  struct Times {
    double real = 0, cpu = 0;  // seconds per model
  };
  using Key = std::tuple<std::string, std::string, std::string>;
  Times Find(const std::string& model, const std::string& threads,
             const std::string& kind) const {
    auto it = best_.find(Key{model, threads, kind});
    return it == best_.end() ? Times{} : it->second;
  }
  std::map<Key, Times> best_;
  std::map<Key, Paired> paired_;
};

}  // namespace
}  // namespace squant::bench

int main(int argc, char** argv) {
  squant::bench::RegisterAll();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  squant::bench::SummaryReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  return 0;
}
