#include "server/layer_job.h"

#include <algorithm>
#include <atomic>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "proto/enum_conversions.h"
#include "server/status_mapping.h"

namespace squant::server {
namespace {

// Blocks this big keep the per-block overhead (a queue round trip) under a
// percent of the work, and let a cancelled stream's worker stop within a
// millisecond or so.
constexpr int64_t kBlockInputBytes = int64_t{1} << 20;

void FillStats(const LayerStats& stats, v1::LayerStats& out) {
  out.set_elements(stats.elements);
  out.set_kernel_flips(stats.kernel_flips);
  out.set_channel_flips(stats.channel_flips);
  out.set_clamped_elements(stats.clamped_elements);
  out.set_degenerate_channels(stats.degenerate_channels);
  out.set_max_kernel_error_sum_before(stats.max_kernel_error_sum_before);
  out.set_max_kernel_error_sum_after(stats.max_kernel_error_sum_after);
  out.set_max_channel_error_sum_before(stats.max_channel_error_sum_before);
  out.set_max_channel_error_sum_after(stats.max_channel_error_sum_after);
  out.set_mse_squant(stats.mse_squant);
  out.set_mse_rtn(stats.mse_rtn);
}

class LayerJob : public std::enable_shared_from_this<LayerJob> {
 public:
  LayerJob(WorkerPool& pool, ServiceMetrics& metrics, LayerPlan plan,
           LayerInput input, absl::AnyInvocable<bool() const> cancelled,
           absl::AnyInvocable<void(LayerJobDone) &&> done)
      : pool_(pool),
        metrics_(metrics),
        plan_(std::move(plan)),
        input_(std::move(input)),
        cancelled_(std::move(cancelled)),
        done_(std::move(done)),
        submitted_(absl::Now()) {}

  void Start() {
    weights_.dtype = plan_.dtype;
    weights_.shape = plan_.shape;
    weights_.data = input_.bytes;
    absl::StatusOr<LayerGeometry> geometry =
        ValidateLayer(weights_, plan_.options.quant);
    if (!geometry.ok()) {
      // PlanLayer and the byte count already passed: only a disagreement
      // between them and the core lands here. `done` runs on a worker, as
      // the caller expects.
      absl::Status error =
          ServiceError(ErrorReason::kInvalidShape,
                       absl::StrCat(LayerLabel(plan_.layer_id, plan_.name),
                                    ": ", geometry.status().message()));
      pool_.Submit(
          [self = shared_from_this(), error]() { self->Finish(error); });
      return;
    }
    geometry_ = *geometry;
    out_ = AllocateOutput(geometry_, plan_.options.quant);
    blocks_ = std::clamp<int64_t>(
        (plan_.input_bytes + kBlockInputBytes - 1) / kBlockInputBytes, 1,
        geometry_.channels);
    block_status_.resize(blocks_);
    const int64_t runners = std::min<int64_t>(blocks_, pool_.size());
    for (int64_t i = 0; i < runners; ++i) Schedule();
  }

 private:
  void Schedule() {
    pool_.Submit([self = shared_from_this()]() { self->RunOneBlock(); });
  }

  void RunOneBlock() {
    const int64_t block = next_block_.fetch_add(1);
    if (block >= blocks_) return;
    if (block == 0) started_ = absl::Now();
    if (!failed_.load(std::memory_order_relaxed)) {
      if (cancelled_()) {
        block_status_[block] = absl::CancelledError(absl::StrCat(
            LayerLabel(plan_.layer_id, plan_.name), ": cancelled"));
      } else {
        const int64_t first = geometry_.channels * block / blocks_;
        const int64_t last = geometry_.channels * (block + 1) / blocks_;
        block_status_[block] =
            QuantizeChannels(weights_, geometry_, first, last, out_);
      }
      if (!block_status_[block].ok()) failed_.store(true);
    }
    if (next_block_.load() < blocks_) Schedule();
    // acq_rel: the last block sees every other block's writes to out_.
    if (blocks_done_.fetch_add(1, std::memory_order_acq_rel) + 1 == blocks_) {
      Complete();
    }
  }

  void Complete() {
    for (const absl::Status& status : block_status_) {
      if (status.ok()) continue;
      Finish(status.code() == absl::StatusCode::kCancelled
                 ? ServiceError(ErrorReason::kCancelled, status.message())
                 : ServiceError(
                       ErrorReason::kNonFinite,
                       absl::StrCat(LayerLabel(plan_.layer_id, plan_.name),
                                    ": ", status.message())));
      return;
    }
    out_.stats = SummarizeStats(out_.channel_stats, geometry_);
    const absl::Time end = absl::Now();
    const double quantize_seconds = absl::ToDoubleSeconds(end - started_);
    const double queue_seconds = absl::ToDoubleSeconds(started_ - submitted_);
    metrics_.LayerQuantized(plan_.options.quant, geometry_.elements(),
                            quantize_seconds, queue_seconds);

    FinishedLayer layer;
    if (plan_.options.pack) {
      layer.packed = PackInt4(out_.values, geometry_);
      out_.values = {};
    }
    v1::LayerResult& result = layer.result;
    result.set_layer_id(plan_.layer_id);
    result.set_name(plan_.name);
    result.mutable_shape()->Assign(plan_.shape.begin(), plan_.shape.end());
    result.set_bits(plan_.options.quant.bits);
    result.set_mode(ToProto(plan_.options.quant.mode));
    result.set_grid(ToProto(plan_.options.quant.grid));
    result.set_packed(plan_.options.pack);
    result.mutable_scale()->Assign(out_.scale.begin(), out_.scale.end());
    result.mutable_zero_point()->Assign(out_.zero_point.begin(),
                                        out_.zero_point.end());
    FillStats(out_.stats, *result.mutable_stats());
    result.mutable_stats()->set_quantize_seconds(quantize_seconds);
    result.mutable_stats()->set_queue_seconds(queue_seconds);
    out_.channel_stats = {};
    layer.quantized = std::move(out_);
    result.set_values_bytes(layer.value_bytes().size());
    Finish(std::move(layer));
  }

  void Finish(absl::StatusOr<FinishedLayer> layer) {
    LayerJobDone result{std::move(layer), plan_.input_bytes};
    input_ = {};  // free the input before the owner counts it as freed
    std::move(done_)(std::move(result));
  }

  WorkerPool& pool_;
  ServiceMetrics& metrics_;
  const LayerPlan plan_;
  LayerInput input_;
  const absl::AnyInvocable<bool() const> cancelled_;
  absl::AnyInvocable<void(LayerJobDone) &&> done_;
  const absl::Time submitted_;
  // Written by block 0's runner before it counts its block done; read by
  // the runner that counts the last block.
  absl::Time started_;

  WeightTensor weights_;
  LayerGeometry geometry_;
  QuantizedLayer out_;
  int64_t blocks_ = 0;
  std::vector<absl::Status> block_status_;
  std::atomic<int64_t> next_block_{0};
  std::atomic<int64_t> blocks_done_{0};
  std::atomic<bool> failed_{false};
};

}  // namespace

absl::Span<const uint8_t> FinishedLayer::value_bytes() const {
  if (!packed.empty()) return packed;
  return {reinterpret_cast<const uint8_t*>(quantized.values.data()),
          quantized.values.size()};
}

void StartLayerJob(WorkerPool& pool, ServiceMetrics& metrics, LayerPlan plan,
                   LayerInput input, absl::AnyInvocable<bool() const> cancelled,
                   absl::AnyInvocable<void(LayerJobDone) &&> done) {
  std::make_shared<LayerJob>(pool, metrics, std::move(plan), std::move(input),
                             std::move(cancelled), std::move(done))
      ->Start();
}

}  // namespace squant::server
