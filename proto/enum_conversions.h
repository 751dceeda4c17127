// The core's enums as squant.v1 enums: one mapping for every client and the
// server.

#ifndef SQUANT_PROTO_ENUM_CONVERSIONS_H_
#define SQUANT_PROTO_ENUM_CONVERSIONS_H_

#include "core/squant.h"
#include "squant/v1/quantization.pb.h"

namespace squant {

v1::Mode ToProto(Mode mode);
v1::Grid ToProto(Grid grid);
v1::Dtype ToProto(DType dtype);

}  // namespace squant

#endif  // SQUANT_PROTO_ENUM_CONVERSIONS_H_
