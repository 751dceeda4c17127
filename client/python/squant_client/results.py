"""What the service returns for a layer, as numpy arrays."""

import dataclasses
import math
from typing import Dict, Tuple, Union

import numpy as np


def packed_shape(shape):
    """[M, ceil(N*K/2)]: the shape of a layer's values packed two per byte."""
    return (shape[0], (math.prod(shape[1:]) + 1) // 2)


def unpack_int4(packed, shape):
    """Inverse of the service's packing (QuantizationOptions.pack in the proto):
    per output channel, low nibble first, 4-bit two's complement, a row of
    odd length ending in a zero nibble. Returns int8 values of `shape`."""
    packed = np.asarray(packed, dtype=np.uint8).reshape(packed_shape(shape))
    nibbles = np.empty((packed.shape[0], packed.shape[1] * 2), dtype=np.uint8)
    nibbles[:, 0::2] = packed & 0x0F
    nibbles[:, 1::2] = packed >> 4
    # Sign-extend: shifting the nibble to the top of an int8 and back.
    values = (nibbles << 4).view(np.int8) >> 4
    return np.ascontiguousarray(values[:, :math.prod(shape[1:])]).reshape(shape)


@dataclasses.dataclass(frozen=True)
class QuantizedTensor:
    """One quantized layer: w ~= scale[m] * (values - zero_point[m]) per output channel m."""

    name: str
    shape: Tuple[int, ...]  # the input's shape [M, N, k1, ...]
    dtype: str  # the input's dtype: "F32", "F16" or "BF16"
    # int8 of `shape`; uint8 of packed_shape(shape) when `packed`.
    values: np.ndarray
    scale: np.ndarray  # float32 [M]
    zero_point: np.ndarray  # int32 [M]
    bits: int
    mode: str  # "squant", "squant-k", "squant-c" or "squant-e"
    grid: str  # "asymmetric" or "symmetric"
    packed: bool
    # The proto's LayerStats fields: flips, error sums, mse_squant vs mse_rtn, times.
    stats: Dict[str, Union[int, float]]

    def int8_values(self):
        """The values as int8 of the input's shape, unpacking if needed."""
        return unpack_int4(self.values, self.shape) if self.packed else self.values

    def dequantize(self):
        """float32 weights of the input's shape: scale * (q - zero_point)."""
        channels = (-1,) + (1,) * (len(self.shape) - 1)
        q = self.int8_values().astype(np.float32)
        zero_point = self.zero_point.astype(np.float32).reshape(channels)
        return self.scale.reshape(channels) * (q - zero_point)
