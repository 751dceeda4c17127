// Between the core's types and squant.v1 messages, in one place.

#ifndef SQUANT_CLIENT_CLI_PROTO_CONVERSIONS_H_
#define SQUANT_CLIENT_CLI_PROTO_CONVERSIONS_H_

#include "core/squant.h"
#include "proto/enum_conversions.h"
#include "squant/v1/quantization.pb.h"

namespace squant::cli {

v1::QuantizationOptions ToProto(const QuantOptions& options, bool pack);
LayerStats FromProto(const v1::LayerStats& stats);

}  // namespace squant::cli

#endif  // SQUANT_CLIENT_CLI_PROTO_CONVERSIONS_H_
