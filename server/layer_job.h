// Quantizes one layer on the worker pool. A big layer is cut into blocks of
// output channels (QuantizeChannels on ranges); each of up to `workers`
// runners takes one block at a time and then goes to the back of the pool's
// queue, so small layers submitted later run between a big layer's blocks
// instead of waiting for all of it.

#ifndef SQUANT_SERVER_LAYER_JOB_H_
#define SQUANT_SERVER_LAYER_JOB_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "core/squant.h"
#include "server/layer_buffer.h"
#include "server/layer_plan.h"
#include "server/metrics.h"
#include "server/worker_pool.h"
#include "squant/v1/quantization.pb.h"

namespace squant::server {

// A layer's input bytes: owned (assembled from a stream's chunks) or
// borrowed (a unary request's field, alive until the call finishes).
struct LayerInput {
  LayerBuffer owned;
  absl::Span<const uint8_t> bytes;
};

// A quantized layer ready to send: its description and its value bytes.
struct FinishedLayer {
  v1::LayerResult result;
  QuantizedLayer quantized;     // values, unless packed
  std::vector<uint8_t> packed;  // the values two per byte, when packed
  absl::Span<const uint8_t> value_bytes() const;
};

struct LayerJobDone {
  absl::StatusOr<FinishedLayer> layer;
  int64_t input_bytes = 0;  // freed before `done` runs
};

// Starts quantizing `plan` on `pool`. `done` runs exactly once on a worker,
// after the input was freed: with the finished layer, or with the core's
// error (INVALID_ARGUMENT naming the first NaN/Inf, reason non_finite) or
// CANCELLED when `cancelled()` turned true (remaining blocks are skipped).
void StartLayerJob(WorkerPool& pool, ServiceMetrics& metrics, LayerPlan plan,
                   LayerInput input, absl::AnyInvocable<bool() const> cancelled,
                   absl::AnyInvocable<void(LayerJobDone) &&> done);

}  // namespace squant::server

#endif  // SQUANT_SERVER_LAYER_JOB_H_
