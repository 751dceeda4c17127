"""Python client for the squant quantization service.

    import squant_client
    weights = squant_client.select_weights(state_dict)
    model = squant_client.quantize(weights, "localhost:50051", bits=4)
    squant_client.save_safetensors(model, "model.q.safetensors", state_dict)
"""

from ._version import __version__
from .channel import open_channel
from .client import QuantizedModel, QuantizeStream, get_capabilities, quantize, quantize_stream
from .errors import SquantError
from .options import ModelSettings
from .results import QuantizedTensor, unpack_int4
from .safetensors_file import save_safetensors
from .tensors import select_weights

__all__ = [
    "ModelSettings", "QuantizeStream", "QuantizedModel", "QuantizedTensor", "SquantError",
    "__version__", "get_capabilities", "open_channel", "quantize", "quantize_stream",
    "save_safetensors", "select_weights", "unpack_int4",
]
