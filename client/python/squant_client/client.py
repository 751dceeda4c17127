"""Quantizing a model through the service's QuantizeModel stream."""

import dataclasses
import math
from typing import Any, Mapping, Tuple

import grpc
import numpy as np

from ._proto import quantization_pb2 as pb
from ._proto import quantization_pb2_grpc as pb_grpc
from .channel import open_channel
from .errors import SquantError, invalid_argument
from .options import DTYPES, GRID_NAMES, MODE_NAMES, ModelSettings
from .results import QuantizedTensor, packed_shape
from .tensors import QUANTIZABLE_DTYPES, raw_bytes, safetensors_dtype, shape_of

# Comfortably under gRPC's default 4 MiB message cap whatever the server's
# limits, and large enough that per-message costs do not show.
DEFAULT_CHUNK_BYTES = 1 << 20


@dataclasses.dataclass(frozen=True)
class _Layer:
    """A tensor to send: checked up front, its bytes read only when streamed."""

    layer_id: int
    name: str
    shape: Tuple[int, ...]
    dtype: str
    tensor: Any
    overrides: pb.QuantizationOptions


def _layers(tensors, settings):
    layers = []
    for layer_id, (name, tensor) in enumerate(tensors.items()):
        dtype = safetensors_dtype(name, tensor)
        if dtype not in QUANTIZABLE_DTYPES:
            raise invalid_argument(
                f"tensor '{name}': dtype {dtype} cannot be quantized "
                f"(expected {', '.join(QUANTIZABLE_DTYPES)})")
        layers.append(_Layer(layer_id, name, shape_of(tensor), dtype, tensor,
                             settings.layer_overrides(name)))
    return layers


def _requests(model_options, layers, chunk_bytes):
    """The client's side of the stream, produced as gRPC asks for it."""
    yield pb.QuantizeModelRequest(options=model_options)
    for layer in layers:
        yield pb.QuantizeModelRequest(layer_header=pb.LayerHeader(
            layer_id=layer.layer_id, name=layer.name, shape=layer.shape,
            dtype=DTYPES[layer.dtype], overrides=layer.overrides))
        data = raw_bytes(layer.tensor)
        for offset in range(0, data.size, chunk_bytes):
            yield pb.QuantizeModelRequest(layer_chunk=pb.LayerChunk(
                layer_id=layer.layer_id, data=data[offset:offset + chunk_bytes].tobytes()))


class _RecordingIterator:
    """Keeps the exception that ended an iterator: gRPC replaces it with a
    bare UNKNOWN status when a request iterator fails."""

    def __init__(self, iterable):
        self._iterator = iter(iterable)
        self.error = None

    def __iter__(self):
        return self

    def __next__(self):
        try:
            return next(self._iterator)
        except StopIteration:
            raise
        except Exception as error:
            self.error = error
            raise


def _protocol_error(message):
    return SquantError(grpc.StatusCode.INTERNAL, f"unexpected server response: {message}")


def _fields(message):
    return {field.name: getattr(message, field.name) for field in message.DESCRIPTOR.fields}


class _IncomingLayer:
    """A LayerResult whose values are arriving in LayerValues chunks."""

    def __init__(self, result, layer):
        if layer is None or result.name != layer.name:
            raise _protocol_error(f"result for unknown layer {result.layer_id} '{result.name}'")
        self.result = result
        self.dtype = layer.dtype
        self.shape = tuple(result.shape)
        if self.shape != layer.shape:
            raise _protocol_error(
                f"layer '{layer.name}': shape {list(self.shape)}, sent {list(layer.shape)}")
        channels = self.shape[0]
        if len(result.scale) != channels or len(result.zero_point) != channels:
            raise _protocol_error(f"layer '{layer.name}': scale or zero_point is not [{channels}]")
        self.values_shape = packed_shape(self.shape) if result.packed else self.shape
        size = math.prod(self.values_shape)
        if result.values_bytes != size:
            raise _protocol_error(
                f"layer '{layer.name}': {result.values_bytes} value bytes, expected {size}")
        self.values = np.empty(size, dtype=np.uint8 if result.packed else np.int8)
        self.received = 0

    @property
    def complete(self):
        return self.received == self.values.size

    def add(self, chunk):
        data = np.frombuffer(chunk.data, dtype=self.values.dtype)
        if (chunk.layer_id != self.result.layer_id or chunk.offset != self.received
                or self.received + data.size > self.values.size):
            raise _protocol_error(
                f"values for layer {chunk.layer_id} at offset {chunk.offset}, expected layer "
                f"{self.result.layer_id} '{self.result.name}' at offset {self.received}")
        self.values[self.received:self.received + data.size] = data
        self.received += data.size

    def finish(self):
        result = self.result
        return QuantizedTensor(
            name=result.name, shape=self.shape, dtype=self.dtype,
            values=self.values.reshape(self.values_shape),
            scale=np.array(result.scale, dtype=np.float32),
            zero_point=np.array(result.zero_point, dtype=np.int32),
            bits=result.bits, mode=MODE_NAMES.get(result.mode, str(result.mode)),
            grid=GRID_NAMES.get(result.grid, str(result.grid)), packed=result.packed,
            stats=_fields(result.stats))


class QuantizeStream:
    """One QuantizeModel call: iterate to get each QuantizedTensor as soon as
    the server has finished it (order of completion, not of input).

    `summary` holds the server's ModelSummary fields once iteration ended.
    Leaving a `with` block early, or calling cancel(), cancels the call: the
    server stops working on it. `settings` is the call's ModelSettings.
    """

    def __init__(self, channel, owns_channel, settings, layers, model_options, chunk_bytes,
                 timeout, metadata):
        self.settings = settings
        self.summary = None
        self._channel = channel if owns_channel else None
        self._layers = {layer.layer_id: layer for layer in layers}
        self._requests = _RecordingIterator(_requests(model_options, layers, chunk_bytes))
        stub = pb_grpc.QuantizationServiceStub(channel)
        self._call = stub.QuantizeModel(self._requests, timeout=timeout, metadata=metadata)
        self._results = self._receive()

    def __iter__(self):
        return self

    def __next__(self):
        try:
            return next(self._results)
        except StopIteration:
            self._close()
            raise
        except SquantError:
            self.cancel()
            raise
        except grpc.RpcError as error:
            self._close()
            request_error = self._requests.error
            if isinstance(request_error, SquantError):
                raise request_error from None
            if request_error is not None:
                raise SquantError(grpc.StatusCode.UNKNOWN, f"reading the tensors failed: "
                                  f"{request_error!r}") from request_error
            raise SquantError.from_rpc_error(error) from None

    def cancel(self):
        self._call.cancel()
        self._close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        if self.summary is None:
            self.cancel()

    def _close(self):
        if self._channel is not None:
            self._channel.close()
            self._channel = None

    def _receive(self):
        incoming = None
        returned = set()
        for response in self._call:
            kind = response.WhichOneof("kind")
            if incoming is not None and kind != "layer_values":
                raise _protocol_error(f"{kind} before layer '{incoming.result.name}' was complete")
            if kind == "layer_result":
                result = response.layer_result
                if result.layer_id in returned:
                    raise _protocol_error(f"layer '{result.name}' returned twice")
                incoming = _IncomingLayer(result, self._layers.get(result.layer_id))
            elif kind == "layer_values":
                if incoming is None:
                    raise _protocol_error("values before any layer result")
                incoming.add(response.layer_values)
            elif kind == "summary":
                self.summary = _fields(response.summary)
            if incoming is not None and incoming.complete:
                returned.add(incoming.result.layer_id)
                yield incoming.finish()
                incoming = None
        missing = [layer.name for layer_id, layer in self._layers.items()
                   if layer_id not in returned]
        if incoming is not None or missing or self.summary is None:
            self.summary = None
            raise _protocol_error(f"stream ended OK without layers {missing} or without a summary")


def quantize_stream(tensors: Mapping[str, Any], target, bits=4, mode="squant", grid="asymmetric",
                    overrides=None, timeout=None, pack=False, *, chunk_bytes=DEFAULT_CHUNK_BYTES,
                    model_name="", metadata=None, **connection) -> QuantizeStream:
    """Starts quantizing `tensors`; iterate the returned stream for results.

    Same arguments as quantize(). Everything that can be checked locally is
    checked before the call starts.
    """
    if chunk_bytes <= 0:
        raise invalid_argument(f"chunk_bytes must be positive, got {chunk_bytes}")
    settings = ModelSettings(bits, mode, grid, pack, overrides)
    model_options = settings.model_options()
    model_options.model_name = model_name
    layers = _layers(tensors, settings)
    owns_channel = not isinstance(target, grpc.Channel)
    channel = open_channel(target, **connection) if owns_channel else target
    return QuantizeStream(channel, owns_channel, settings, layers, model_options, chunk_bytes,
                          timeout, metadata)


class QuantizedModel(dict):
    """{name: QuantizedTensor} in the input's order, with the call's
    `settings` (a ModelSettings) and the server's `summary`."""

    def __init__(self, results, settings, summary):
        super().__init__(results)
        self.settings = settings
        self.summary = summary


def quantize(tensors: Mapping[str, Any], target, bits=4, mode="squant", grid="asymmetric",
             overrides=None, timeout=None, pack=False, **kwargs) -> QuantizedModel:
    """Quantizes every tensor of `tensors` with SQuant on the server at `target`.

    tensors: {name: array}, numpy float32/float16 arrays or torch float32,
      float16 or bfloat16 tensors of shape [M, N, k1, ...] (quantized per
      output channel M). Each is streamed in chunks of `chunk_bytes` when
      gRPC is ready for it; nothing is copied whole up front.
    target: "host:port" (or any gRPC target), or an open grpc.Channel.
    bits, mode, grid, pack: defaults for every tensor; mode is "squant",
      "squant-k", "squant-c" or "squant-e"; grid "asymmetric" or "symmetric";
      pack stores two 4-bit values per byte (bits <= 4).
    overrides: {name or regular expression: {"bits": .., "mode": ..,
      "grid": .., "pack": ..}} for some tensors; see Overrides.
    timeout: seconds for the whole call (DEADLINE_EXCEEDED after it).
    Keyword-only: chunk_bytes, model_name (for the server's logs), metadata
      (gRPC call metadata), and the connection options of open_channel():
      tls, root_certificates, private_key, certificate_chain, server_name,
      channel_options.

    Raises SquantError (with .code, a grpc.StatusCode, and .message) on any
    failure.
    """
    with quantize_stream(tensors, target, bits, mode, grid, overrides, timeout, pack,
                         **kwargs) as stream:
        results = {result.name: result for result in stream}
    return QuantizedModel(((name, results[name]) for name in tensors), stream.settings,
                          stream.summary)


def get_capabilities(target, timeout=None, metadata=None, **connection):
    """The server's GetCapabilitiesResponse fields as a dict (enums as names)."""
    owns_channel = not isinstance(target, grpc.Channel)
    channel = open_channel(target, **connection) if owns_channel else target
    try:
        response = pb_grpc.QuantizationServiceStub(channel).GetCapabilities(
            pb.GetCapabilitiesRequest(), timeout=timeout, metadata=metadata)
    except grpc.RpcError as error:
        raise SquantError.from_rpc_error(error) from None
    finally:
        if owns_channel:
            channel.close()
    capabilities = _fields(response)
    capabilities["modes"] = [MODE_NAMES.get(m, str(m)) for m in response.modes]
    capabilities["grids"] = [GRID_NAMES.get(g, str(g)) for g in response.grids]
    capabilities["dtypes"] = [pb.Dtype.Name(d).removeprefix("DTYPE_") for d in response.dtypes]
    return capabilities
