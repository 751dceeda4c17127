"""The client against a real squant-server on loopback."""

import os
import re
import socket
import subprocess
import sys

import grpc
import numpy as np
import pytest

import models
import safetensors_io
import squant_client
from conftest import binary
from squant_client import SquantError

TIMEOUT = 60  # seconds; every call is bounded

# (options of quantize(), the server fixture to use).
CONFIGS = {
    "4bit-asymmetric-fc8": (dict(bits=4, mode="squant", grid="asymmetric", pack=False,
                                 overrides={"fc": {"bits": 8}}), "server"),
    # Small chunks both ways exercise the streaming and the values' reassembly.
    "3bit-symmetric-packed-small-chunks": (dict(bits=3, mode="squant-k", grid="symmetric",
                                                pack=True, overrides={"conv2": {"bits": 6}},
                                                chunk_bytes=1000), "small_chunk_server"),
}


def cli_flags(config):
    flags = ["--bits", str(config["bits"]), "--mode", config["mode"], "--grid", config["grid"]]
    if config["pack"]:
        flags.append("--pack")
    for pattern, override in config["overrides"].items():
        flags += ["--bits_override", f"{pattern}={override['bits']}"]
    return flags


def quantize_with_cli_local(tmp_path, file_tensors, flags):
    """squant-cli quantize --local's output for a model (safetensors_io.write's form)."""
    safetensors_io.write(tmp_path / "model.safetensors", file_tensors)
    cli_path = tmp_path / "cli.safetensors"
    subprocess.run([binary("SQUANT_CLI"), "quantize", "--local", "--input",
                    str(tmp_path / "model.safetensors"), "--output", str(cli_path), *flags],
                   check=True, capture_output=True, timeout=TIMEOUT)
    return cli_path


# Names the tool that wrote a file ("squant-cli 0.1.0", "squant-client
# 0.1.0"): the one value in which the two tools' files must differ.
TOOL_VERSION = "squant.tool_version"


def without_tool_version(path):
    """A file's header text without the squant.tool_version entry, and its
    data bytes: equal for two files that differ only in that value."""
    header_text, data = safetensors_io.split(path)
    entry = rb',?"' + re.escape(TOOL_VERSION.encode()) + rb'":"[^"]*"'
    header_text, removed = re.subn(entry, b"", header_text)
    assert removed == 1, f"{path}: no {TOOL_VERSION} entry in {header_text!r}"
    return header_text, data


def save_and_compare(results, original_tensors, cli_path, tmp_path):
    """Saves `results` with the defaults and checks the file equals
    `cli_path` byte for byte but for the tool named in squant.tool_version,
    which is the same release."""
    cli_metadata, cli_tensors = safetensors_io.read(cli_path)
    python_path = tmp_path / "python.safetensors"
    squant_client.save_safetensors(results, python_path, original_tensors)
    python_metadata, python_tensors = safetensors_io.read(python_path)
    assert python_metadata.pop(TOOL_VERSION) == f"squant-client {squant_client.__version__}"
    assert cli_metadata.pop(TOOL_VERSION) == f"squant-cli {squant_client.__version__}"
    assert python_metadata == cli_metadata
    assert list(python_tensors) == list(cli_tensors)
    for name, tensor in cli_tensors.items():
        np.testing.assert_array_equal(python_tensors[name], tensor, err_msg=name)
    assert without_tool_version(python_path) == without_tool_version(cli_path)


@pytest.mark.parametrize("config, server_fixture", CONFIGS.values(), ids=CONFIGS.keys())
def test_saved_file_equals_cli_local_output(request, tmp_path, config, server_fixture):
    model = models.small_cnn()
    cli_path = quantize_with_cli_local(tmp_path, model, cli_flags(config))
    server = request.getfixturevalue(server_fixture)
    results = squant_client.quantize(squant_client.select_weights(model), server.address,
                                     timeout=TIMEOUT, **config)
    save_and_compare(results, model, cli_path, tmp_path)


def test_torch_state_dict_with_bf16_equals_cli_local_output(server, tmp_path):
    torch = pytest.importorskip("torch")
    model = models.small_cnn()
    state_dict = {name: torch.from_numpy(tensor) for name, tensor in model.items()}
    state_dict["conv2.weight"] = state_dict["conv2.weight"].to(torch.bfloat16)
    file_tensors = dict(model, **{"conv2.weight": (
        "BF16", state_dict["conv2.weight"].view(torch.int16).numpy().view(np.uint16))})
    cli_path = quantize_with_cli_local(tmp_path, file_tensors, ["--bits", "5"])

    results = squant_client.quantize(squant_client.select_weights(state_dict), server.address,
                                     bits=5, timeout=TIMEOUT)
    assert results["conv2.weight"].dtype == "BF16"
    save_and_compare(results, state_dict, cli_path, tmp_path)


def test_readme_example_round_trips_through_cli_dequantize(server, tmp_path):
    """The README's end-of-training example, on a small torch network; the
    CLI reads the saved file back and dequantizes it as the client does."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    network = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3), torch.nn.BatchNorm2d(8), torch.nn.ReLU(),
        torch.nn.Flatten(), torch.nn.Linear(8 * 6 * 6, 10))
    state_dict = network.state_dict()

    weights = squant_client.select_weights(state_dict)
    assert list(weights) == ["0.weight", "4.weight"]
    result = squant_client.quantize(weights, server.address, bits=4,
                                    overrides={r"^4\.": {"bits": 8}}, timeout=TIMEOUT)
    assert [result[name].bits for name in weights] == [4, 8]
    quantized_path = tmp_path / "model.q4.safetensors"
    squant_client.save_safetensors(result, quantized_path, state_dict)

    float_path = tmp_path / "model.dequantized.safetensors"
    subprocess.run([binary("SQUANT_CLI"), "dequantize", "--input", str(quantized_path),
                    "--output", str(float_path)], check=True, capture_output=True, timeout=TIMEOUT)
    _, dequantized = safetensors_io.read(float_path)
    assert set(dequantized) == set(state_dict)
    for name, tensor in result.items():
        np.testing.assert_array_equal(dequantized[name], tensor.dequantize(), err_msg=name)
    network.load_state_dict({**state_dict, **{
        name: torch.from_numpy(tensor.dequantize()).to(state_dict[name])
        for name, tensor in result.items()}})
    assert network(torch.randn(2, 3, 8, 8)).shape == (2, 10)


def test_results_stream_in_as_layers_finish(server):
    model = models.many_layers(6) | squant_client.select_weights(models.small_cnn())
    seen = []
    with squant_client.quantize_stream(model, server.address, timeout=TIMEOUT) as stream:
        for result in stream:
            seen.append(result.name)
            assert result.shape == model[result.name].shape
            assert result.values.dtype == np.int8 and result.values.shape == result.shape
            assert result.scale.shape == result.zero_point.shape == (result.shape[0],)
    assert sorted(seen) == sorted(model)
    assert stream.summary["layers"] == len(model)
    assert stream.summary["elements"] == sum(t.size for t in model.values())


def test_reported_mse_matches_dequantized_weights(server):
    model = squant_client.select_weights(models.small_cnn())
    for name, result in squant_client.quantize(model, server.address, timeout=TIMEOUT).items():
        error = result.dequantize().astype(np.float64) - model[name].astype(np.float64)
        assert result.stats["mse_squant"] == pytest.approx(np.mean(error ** 2), rel=1e-3), name
        assert result.stats["elements"] == model[name].size


def test_packed_values_unpack_to_the_unpacked_result(server):
    model = squant_client.select_weights(models.small_cnn())
    plain = squant_client.quantize(model, server.address, bits=4, timeout=TIMEOUT)
    packed = squant_client.quantize(model, server.address, bits=4, pack=True, timeout=TIMEOUT)
    for name, result in packed.items():
        assert result.packed and result.values.dtype == np.uint8
        np.testing.assert_array_equal(result.int8_values(), plain[name].values, err_msg=name)


def test_f16_input_quantizes_as_its_exact_float32_values(server):
    rng = np.random.default_rng(7)
    weight = rng.normal(0, 0.1, (48, 24, 3, 3)).astype(np.float16)
    from_f16 = squant_client.quantize({"w": weight}, server.address, bits=3,
                                      timeout=TIMEOUT)["w"]
    from_f32 = squant_client.quantize({"w": weight.astype(np.float32)}, server.address, bits=3,
                                      timeout=TIMEOUT)["w"]
    assert from_f16.dtype == "F16" and from_f32.dtype == "F32"
    np.testing.assert_array_equal(from_f16.values, from_f32.values)
    np.testing.assert_array_equal(from_f16.scale, from_f32.scale)
    np.testing.assert_array_equal(from_f16.zero_point, from_f32.zero_point)


def test_torch_bfloat16_is_sent_bit_exact(server):
    torch = pytest.importorskip("torch")
    weight = torch.randn(32, 8, 3, 3, generator=torch.Generator().manual_seed(3)).to(torch.bfloat16)
    from_bf16 = squant_client.quantize({"w": weight}, server.address, timeout=TIMEOUT)["w"]
    from_f32 = squant_client.quantize({"w": weight.float().numpy()}, server.address,
                                      timeout=TIMEOUT)["w"]
    assert from_bf16.dtype == "BF16"
    np.testing.assert_array_equal(from_bf16.values, from_f32.values)
    np.testing.assert_array_equal(from_bf16.scale, from_f32.scale)


@pytest.mark.parametrize("bad_name, bad_tensor, problem", [
    ("blocks.3.nan.weight", np.full((8, 4, 3, 3), np.nan, dtype=np.float32), "NaN"),
    ("blocks.3.flat.weight", np.ones(12, dtype=np.float32), "rank"),
])
def test_invalid_layer_error_names_the_layer(server, bad_name, bad_tensor, problem):
    model = models.many_layers(2) | {bad_name: bad_tensor}
    with pytest.raises(SquantError) as caught:
        squant_client.quantize(model, server.address, timeout=TIMEOUT)
    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert bad_name in caught.value.message


def test_local_problems_raise_before_connecting():
    closed_port = "127.0.0.1:1"  # nothing listens: any RPC would be UNAVAILABLE
    cases = [
        ({"w": np.ones((4, 4), dtype=np.float64)}, {}, "'w'"),
        ({"w": [[1.0, 2.0]]}, {}, "'w'"),
        ({"w": np.ones((4, 4), dtype=np.float32)}, {"mode": "squant-x"}, "squant-x"),
        ({"w": np.ones((4, 4), dtype=np.float32)}, {"overrides": {"w": {"bitz": 2}}}, "bitz"),
        ({"w": np.ones((4, 4), dtype=np.float32)}, {"bits": 8, "pack": True}, "pack"),
    ]
    for tensors, options, mentioned in cases:
        with pytest.raises(SquantError) as caught:
            squant_client.quantize(tensors, closed_port, timeout=TIMEOUT, **options)
        assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
        assert mentioned in caught.value.message


def stream_end(server, model_name):
    """The server's log of the end of the stream named `model_name`."""
    event = server.wait_for_event(
        lambda e: e.get("event") == "stream_end" and e.get("model") == model_name, timeout=20)
    assert event is not None, f"the server logged no end for stream {model_name!r}"
    return event


def test_expired_deadline_is_deadline_exceeded_and_server_recovers(server):
    # 256 MiB cannot even be serialized within the deadline.
    with pytest.raises(SquantError) as caught:
        squant_client.quantize(models.lazy_layers(64), server.address, timeout=0.05)
    assert caught.value.code == grpc.StatusCode.DEADLINE_EXCEEDED
    assert len(squant_client.quantize(models.many_layers(2), server.address, timeout=TIMEOUT)) == 2


def still_streaming_model():
    """256 MiB: the client is still sending it long after the first result is
    back, so the server cannot have finished when a cancel arrives (a small
    model may be done, OK, before it does)."""
    return models.lazy_layers(64)


def test_cancelled_stream_stops_the_servers_work(server):
    model = still_streaming_model()
    stream = squant_client.quantize_stream(model, server.address, timeout=TIMEOUT,
                                           model_name="cancel-test")
    assert next(stream).name in model
    stream.cancel()
    with pytest.raises(SquantError) as caught:
        for _ in stream:
            pass
    assert caught.value.code == grpc.StatusCode.CANCELLED
    assert stream.summary is None
    end = stream_end(server, "cancel-test")
    assert end["code"] == "Canceled" and end["layers"] < len(model)
    assert len(squant_client.quantize(models.many_layers(2), server.address, timeout=TIMEOUT)) == 2


# VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent
# through fork and exec.
MEMORY_PROBE = """
import sys
import models, squant_client
model = models.lazy_layers(64)
with squant_client.quantize_stream(model, sys.argv[1], timeout=120) as stream:
    layers = sum(1 for _ in stream)
with open("/proc/self/status") as status:
    peak_kib = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
print(layers, peak_kib // 1024)
"""


def test_streaming_never_holds_the_whole_model(server, tmp_path):
    # A child process, so that its peak RSS measures this call alone; it
    # imports what this process imports (the installed package, models.py).
    probe = subprocess.run(
        [sys.executable, "-c", MEMORY_PROBE, server.address], capture_output=True, text=True,
        timeout=TIMEOUT * 2, cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)})
    assert probe.returncode == 0, probe.stderr
    layers, peak_mib = map(int, probe.stdout.split())
    assert layers == 64
    assert peak_mib < 200, f"peak RSS {peak_mib} MiB while streaming 256 MiB of weights"


def test_leaving_the_with_block_early_cancels(server):
    model = still_streaming_model()
    with squant_client.quantize_stream(model, server.address, timeout=TIMEOUT,
                                       model_name="with-test") as stream:
        next(stream)
    with pytest.raises(SquantError) as caught:
        for _ in stream:
            pass
    assert caught.value.code == grpc.StatusCode.CANCELLED
    end = stream_end(server, "with-test")
    assert end["code"] == "Canceled" and end["layers"] < len(model)


def test_unreachable_server_is_unavailable():
    # Bound but not listening: connections are refused, and no other
    # process (ctest runs tests in parallel) can take the port meanwhile.
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        address = "127.0.0.1:%d" % closed.getsockname()[1]
        with pytest.raises(SquantError) as caught:
            squant_client.quantize(models.many_layers(1), address, timeout=TIMEOUT)
    assert caught.value.code == grpc.StatusCode.UNAVAILABLE


def test_capabilities(server):
    capabilities = squant_client.get_capabilities(server.address, timeout=TIMEOUT)
    assert capabilities["min_bits"] == 2 and capabilities["max_bits"] == 8
    assert set(capabilities["dtypes"]) >= {"F32", "F16", "BF16"}
    assert "squant" in capabilities["modes"] and "symmetric" in capabilities["grids"]
