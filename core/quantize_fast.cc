// Placeholder until the SIMD implementation lands: forwards to the
// reference so that the library links.
#include "core/squant.h"

namespace squant {

absl::Status QuantizeChannels(const WeightTensor& weights,
                              const LayerGeometry& geometry,
                              int64_t first_channel, int64_t last_channel,
                              QuantizedLayer& out) {
  return QuantizeChannelsReference(weights, geometry, first_channel,
                                   last_channel, out);
}

}  // namespace squant
