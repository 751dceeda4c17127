#include "tools/modelbench/core_throughput.h"

#include <cstdio>
#include <cstring>
#include <vector>

#include "absl/time/clock.h"
#include "bench/model_shapes.h"
#include "tools/modelbench/weight_source.h"

namespace squant::modelbench {
namespace {

// The same random values as F32 and as F16 (truncated).
struct LayerInputs {
  std::vector<uint8_t> f32;
  std::vector<uint8_t> f16;
};

LayerInputs RandomInputs(int64_t elements, uint64_t seed) {
  LayerInputs inputs{RandomF32Layer(elements, seed),
                     std::vector<uint8_t>(elements * 2)};
  for (int64_t i = 0; i < elements; ++i) {
    float value;
    std::memcpy(&value, inputs.f32.data() + i * 4, 4);
    const uint16_t half = TruncateToF16(value);
    std::memcpy(inputs.f16.data() + i * 2, &half, 2);
  }
  return inputs;
}

// Best seconds over `reps` for the whole model on one thread, with the
// 4-bit packing the server does for packed output or without.
absl::StatusOr<double> BestSeconds(const bench::ModelShapes& model,
                                   const std::vector<LayerInputs>& inputs,
                                   DType dtype, bool pack,
                                   const BenchConfig& config) {
  RunTimes times;
  for (int rep = 0; rep < config.reps; ++rep) {
    const absl::Time start = absl::Now();
    for (size_t i = 0; i < model.layers.size(); ++i) {
      const WeightTensor tensor{
          dtype, model.layers[i].shape,
          dtype == DType::kF32 ? inputs[i].f32 : inputs[i].f16};
      absl::StatusOr<QuantizedLayer> layer =
          Quantize(tensor, config.quant, /*num_threads=*/1);
      if (!layer.ok()) return layer.status();
      if (pack) PackInt4(layer->values, layer->geometry);
    }
    times.Add(absl::ToDoubleSeconds(absl::Now() - start));
  }
  return times.best();
}

bench::ModelShapes LlamaBlock() {
  bench::ModelShapes llama = bench::Llama2_7B();
  // The embeddings, then block 0's seven matrices.
  return {"llama2-7b block",
          {llama.layers.begin() + 1, llama.layers.begin() + 8}};
}

}  // namespace

absl::Status RunCoreThroughput(const BenchConfig& config) {
  std::printf(
      "core alone, 1 thread, %d-bit %s, best of %d; F16+pack: also "
      "PackInt4, as the server does for packed output:\n"
      "%-16s %10s %9s %13s %9s %13s %14s\n",
      config.quant.bits, ModeName(config.quant.mode).data(), config.reps,
      "shapes", "weights", "F32 ms", "F32 Mweight/s", "F16 ms", "F16 Mweight/s",
      "F16+pack Mw/s");
  for (const bench::ModelShapes& model : {bench::ResNet50(), LlamaBlock()}) {
    std::vector<LayerInputs> inputs;
    for (size_t i = 0; i < model.layers.size(); ++i) {
      inputs.push_back(
          RandomInputs(model.layers[i].elements(), config.seed * 1000 + i));
    }
    absl::StatusOr<double> f32 =
        BestSeconds(model, inputs, DType::kF32, /*pack=*/false, config);
    if (!f32.ok()) return f32.status();
    absl::StatusOr<double> f16 =
        BestSeconds(model, inputs, DType::kF16, /*pack=*/false, config);
    if (!f16.ok()) return f16.status();
    absl::StatusOr<double> f16_packed =
        BestSeconds(model, inputs, DType::kF16, /*pack=*/true, config);
    if (!f16_packed.ok()) return f16_packed.status();
    const double weights = static_cast<double>(model.elements());
    std::printf("%-16s %10lld %9.1f %13.1f %9.1f %13.1f %14.1f\n",
                model.name.c_str(), static_cast<long long>(model.elements()),
                *f32 * 1e3, weights / *f32 / 1e6, *f16 * 1e3,
                weights / *f16 / 1e6, weights / *f16_packed / 1e6);
    std::fflush(stdout);
  }
  return absl::OkStatus();
}

}  // namespace squant::modelbench
