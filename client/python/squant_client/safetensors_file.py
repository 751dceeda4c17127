"""Writing quantized models in squant-cli's safetensors schema (client/README.md).

For a quantized tensor NAME of shape [M, N, k1, ...]:
  NAME.qweight     I8 [M, N, k1, ...], or U8 [M, ceil(N*K/2)] when packed
  NAME.scale       F32 [M]
  NAME.zero_point  I32 [M]
with NAME ~= scale[m] * (qweight - zero_point[m]) in output channel m; every
other tensor under its own name; and the CLI's __metadata__ keys.

The bytes are those safetensors/writer.cc produces (nlohmann::json's compact
dump with keys sorted, the header padded with spaces to a multiple of 8, the
tensors in the model's order), so that the file equals squant-cli's byte for
byte but for squant.tool_version, which names the tool that wrote it.
"""

import json
import math
import os
import struct

from ._version import __version__
from .errors import invalid_argument
from .options import ModelSettings
from .tensors import DTYPE_SIZES, raw_bytes, safetensors_dtype, shape_of

QWEIGHT_SUFFIX = ".qweight"
SCALE_SUFFIX = ".scale"
ZERO_POINT_SUFFIX = ".zero_point"


def _json(value):
    # nlohmann::json::dump(): no spaces, keys in byte order, UTF-8 unescaped.
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _metadata(results, settings, tool_version):
    bits_overrides = [{"pattern": pattern, "bits": entry["bits"]}
                      for pattern, entry in settings.overrides.items() if "bits" in entry]
    layers = {name: {"shape": list(result.shape), "dtype": result.dtype, "bits": result.bits,
                     "mode": result.mode, "grid": result.grid, "packed": result.packed}
              for name, result in results.items()}
    return {
        "quantization_method": "squant",
        "squant.tool_version": tool_version,
        "squant.bits": str(settings.bits),
        "squant.mode": settings.mode,
        "squant.grid": settings.grid,
        "squant.pack": "true" if settings.pack else "false",
        "squant.bits_overrides": _json(bits_overrides),
        "squant.layers": _json(layers),
    }


def _entries(results, original_tensors):
    """(name, dtype, shape, array) of every tensor of the file, in its order."""
    if original_tensors is None:
        original_tensors = {}
        order = list(results)
    else:
        order = list(original_tensors)
        unknown = [name for name in results if name not in original_tensors]
        if unknown:
            raise invalid_argument(f"results for tensors not in original_tensors: {unknown}")
    for name in order:
        result = results.get(name)
        if result is None:
            tensor = original_tensors[name]
            yield name, safetensors_dtype(name, tensor), shape_of(tensor), tensor
            continue
        channels = (result.shape[0],)
        yield (name + QWEIGHT_SUFFIX, "U8" if result.packed else "I8", result.values.shape,
               result.values)
        yield name + SCALE_SUFFIX, "F32", channels, result.scale
        yield name + ZERO_POINT_SUFFIX, "I32", channels, result.zero_point


def save_safetensors(results, path, original_tensors=None, *, settings=None, tool_version=None):
    """Writes `results` (from quantize(), or {name: QuantizedTensor}) to `path`.

    original_tensors: the model's full {name: array} (numpy or torch, any
      dtype): its order is the file's, and tensors without a result are
      copied unchanged (biases, norms, ...). Without it the file holds only
      the quantized tensors, in the order of `results`.
    settings: the call's ModelSettings, recorded in __metadata__; default
      `results.settings` (set by quantize()), else ModelSettings().
    tool_version: the writer recorded in squant.tool_version (default
      "squant-client VERSION", as squant-cli records "squant-cli VERSION").

    Raises SquantError (INVALID_ARGUMENT) for a name clash or a tensor with
    no safetensors dtype, OSError if the file cannot be written. The file
    appears complete or not at all (written beside it, then renamed).
    """
    settings = settings or getattr(results, "settings", None) or ModelSettings()
    tool_version = tool_version or f"squant-client {__version__}"
    header = {"__metadata__": _metadata(results, settings, tool_version)}
    arrays = []
    offset = 0
    for name, dtype, shape, array in _entries(results, original_tensors):
        if name in header:
            raise invalid_argument(f"tensor '{name}' appears twice")
        end = offset + DTYPE_SIZES[dtype] * math.prod(shape)
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, end]}
        arrays.append((name, end - offset, array))
        offset = end
    text = _json(header).encode("utf-8")
    text += b" " * (-len(text) % 8)

    partial = f"{os.fspath(path)}.partial"
    try:
        with open(partial, "wb") as file:
            file.write(struct.pack("<Q", len(text)))
            file.write(text)
            for name, size, array in arrays:
                data = raw_bytes(array)
                if data.size != size:
                    raise invalid_argument(f"tensor '{name}': {data.size} bytes, expected {size}")
                file.write(data)
        os.replace(partial, path)
    finally:
        if os.path.exists(partial):
            os.remove(partial)
