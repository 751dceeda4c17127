"""A plain safetensors reader and writer for the tests, independent of the
package's writer so that neither can hide the other's mistakes."""

import json
import struct

import numpy as np

NUMPY_DTYPES = {
    "F32": np.float32, "F16": np.float16, "I64": np.int64, "I32": np.int32,
    "I8": np.int8, "U8": np.uint8, "BF16": np.uint16,  # BF16 kept as its bits
}
SAFETENSORS_DTYPES = {np.dtype(v).name: k for k, v in NUMPY_DTYPES.items() if k != "BF16"}


def write(path, tensors, metadata=None):
    """Writes {name: numpy array} (bfloat16 as ("BF16", uint16 array))."""
    header = {"__metadata__": metadata} if metadata else {}
    blobs = []
    offset = 0
    for name, value in tensors.items():
        dtype, array = value if isinstance(value, tuple) else (
            SAFETENSORS_DTYPES[value.dtype.name], value)
        data = np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": dtype, "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)  # as the safetensors library aligns the data
    with open(path, "wb") as file:
        file.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def split(path):
    """(header JSON text without its padding, data bytes) of a safetensors file."""
    with open(path, "rb") as file:
        blob = file.read()
    (length,) = struct.unpack("<Q", blob[:8])
    return blob[8:8 + length].rstrip(b" "), blob[8 + length:]


def read(path):
    """(metadata dict, {name: numpy array} in data order) of a safetensors file."""
    header_text, data = split(path)
    header = json.loads(header_text)
    metadata = header.pop("__metadata__", {})
    tensors = {}
    for name, info in sorted(header.items(), key=lambda item: item[1]["data_offsets"]):
        begin, end = info["data_offsets"]
        dtype = np.dtype(NUMPY_DTYPES[info["dtype"]]).newbyteorder("<")
        array = np.frombuffer(data[begin:end], dtype=dtype)
        tensors[name] = array.reshape(info["shape"])
    return metadata, tensors
