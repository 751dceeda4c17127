"""Turning the caller's arrays (numpy, torch) into safetensors dtypes and raw bytes.

torch is never imported here: a torch tensor can only reach us if the
caller already imported torch, so it is looked up in sys.modules.
"""

import re
import sys

import numpy as np

from .errors import invalid_argument

# numpy dtype names (bfloat16 is ml_dtypes') -> safetensors dtype names.
_NUMPY_DTYPES = {
    "float64": "F64", "float32": "F32", "float16": "F16", "bfloat16": "BF16",
    "int64": "I64", "int32": "I32", "int16": "I16", "int8": "I8",
    "uint64": "U64", "uint32": "U32", "uint16": "U16", "uint8": "U8",
    "bool": "BOOL",
}
_TORCH_DTYPES = {
    "torch.float64": "F64", "torch.float32": "F32", "torch.float16": "F16",
    "torch.bfloat16": "BF16", "torch.int64": "I64", "torch.int32": "I32",
    "torch.int16": "I16", "torch.int8": "I8", "torch.uint8": "U8",
    "torch.bool": "BOOL",
}
DTYPE_SIZES = {
    "F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1,
    "U64": 8, "U32": 4, "U16": 2, "U8": 1, "BOOL": 1,
}
# What the service quantizes.
QUANTIZABLE_DTYPES = ("F32", "F16", "BF16")
_FLOATING_DTYPES = QUANTIZABLE_DTYPES + ("F64",)


def _is_torch_tensor(tensor):
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(tensor, torch.Tensor)


def safetensors_dtype(name, tensor):
    """The safetensors dtype name of `tensor`; INVALID_ARGUMENT if it has none."""
    if _is_torch_tensor(tensor):
        dtype = _TORCH_DTYPES.get(str(tensor.dtype))
    elif isinstance(tensor, np.ndarray):
        dtype = _NUMPY_DTYPES.get(tensor.dtype.name)
    else:
        raise invalid_argument(
            f"tensor '{name}': expected a numpy array or torch tensor, got {type(tensor).__name__}")
    if dtype is None:
        raise invalid_argument(
            f"tensor '{name}': dtype {tensor.dtype} has no safetensors equivalent")
    return dtype


def shape_of(tensor):
    return tuple(int(d) for d in tensor.shape)


def _as_numpy(tensor):
    if not _is_torch_tensor(tensor):
        return tensor
    torch = sys.modules["torch"]
    tensor = tensor.detach().cpu().contiguous()
    if tensor.dtype == torch.bfloat16:
        # numpy has no bfloat16: move the bits, not the values, so nothing is rounded.
        tensor = tensor.view(torch.int16)
    return tensor.numpy()


def raw_bytes(tensor):
    """The tensor's bytes, little-endian and C order, as a flat uint8 array.

    A view when the data already is laid out that way; otherwise one copy of
    this tensor (never of the whole model).
    """
    array = np.ascontiguousarray(_as_numpy(tensor))
    if array.dtype.byteorder == ">" or (array.dtype.byteorder == "=" and sys.byteorder == "big"):
        array = array.astype(array.dtype.newbyteorder("<"))
    return array.reshape(-1).view(np.uint8)


def select_weights(tensors, include=(), exclude=()):
    """The tensors squant-cli quantizes by default: {name: tensor} of every
    floating tensor of rank >= 2 whose name matches one of `include` (if
    any) and none of `exclude` (regular expressions, searched in the name,
    as the CLI's --include / --exclude). Order is kept.

    F64 tensors are selected, as by the CLI, and then rejected by quantize():
    exclude them, or convert them to float32, to keep going.
    """
    try:
        include = [re.compile(pattern) for pattern in include]
        exclude = [re.compile(pattern) for pattern in exclude]
    except re.error as error:
        raise invalid_argument(f"bad regular expression {error.pattern!r}: {error}") from None
    selected = {}
    for name, tensor in tensors.items():
        if len(shape_of(tensor)) < 2 or safetensors_dtype(name, tensor) not in _FLOATING_DTYPES:
            continue
        if include and not any(pattern.search(name) for pattern in include):
            continue
        if any(pattern.search(name) for pattern in exclude):
            continue
        selected[name] = tensor
    return selected
