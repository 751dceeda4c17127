#include "proto/enum_conversions.h"

namespace squant {

v1::Mode ToProto(Mode mode) {
  switch (mode) {
    case Mode::kSquant:
      return v1::MODE_SQUANT;
    case Mode::kSquantK:
      return v1::MODE_SQUANT_K;
    case Mode::kSquantC:
      return v1::MODE_SQUANT_C;
    case Mode::kSquantE:
      return v1::MODE_SQUANT_E;
  }
  return v1::MODE_UNSPECIFIED;
}

v1::Grid ToProto(Grid grid) {
  switch (grid) {
    case Grid::kAsymmetric:
      return v1::GRID_ASYMMETRIC;
    case Grid::kSymmetric:
      return v1::GRID_SYMMETRIC;
  }
  return v1::GRID_UNSPECIFIED;
}

v1::Dtype ToProto(DType dtype) {
  switch (dtype) {
    case DType::kF32:
      return v1::DTYPE_F32;
    case DType::kF16:
      return v1::DTYPE_F16;
    case DType::kBF16:
      return v1::DTYPE_BF16;
  }
  return v1::DTYPE_UNSPECIFIED;
}

}  // namespace squant
