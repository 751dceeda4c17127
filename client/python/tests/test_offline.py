"""Parts of the client that need no server: options, packing, the file writer."""

import math

import grpc
import numpy as np
import pytest

import models
import safetensors_io
import squant_client
from squant_client import ModelSettings, QuantizedTensor, SquantError


def pack_reference(values):
    """Packing as the proto words it, one element at a time."""
    rows = values.reshape(values.shape[0], -1)
    packed = np.zeros((rows.shape[0], (rows.shape[1] + 1) // 2), dtype=np.uint8)
    for m, row in enumerate(rows):
        for i, value in enumerate(row):
            packed[m, i // 2] |= (int(value) & 0x0F) << (4 * (i % 2))
    return packed


@pytest.mark.parametrize("shape", [(3, 5), (4, 2, 3, 3), (1, 1), (2, 8)])
def test_unpack_int4_inverts_the_documented_packing(shape):
    values = np.random.default_rng(0).integers(-8, 8, size=shape).astype(np.int8)
    np.testing.assert_array_equal(squant_client.unpack_int4(pack_reference(values), shape), values)


def test_overrides_exact_name_first_then_first_pattern_found_in_the_name():
    settings = ModelSettings(bits=4, overrides={
        r"conv\d": {"bits": 6}, "conv": {"bits": 5, "mode": "squant-e"}, "fc.weight": {"bits": 8}})
    assert settings.layer_overrides("layer1.conv2.weight").bits == 6
    assert settings.layer_overrides("conv.weight").bits == 5
    assert settings.layer_overrides("fc.weight").bits == 8
    assert not settings.layer_overrides("head.weight").HasField("pack")
    assert settings.layer_overrides("head.weight").bits == 0  # inherit


def test_pack_applies_only_to_tensors_of_at_most_4_bits():
    settings = ModelSettings(bits=4, pack=True, overrides={"fc": {"bits": 8}, "conv": {"bits": 3}})
    fc = settings.layer_overrides("fc.weight")
    assert fc.HasField("pack") and not fc.pack
    assert not settings.layer_overrides("conv.weight").HasField("pack")


def test_bad_options_are_invalid_argument():
    for options in ({"bits": 0}, {"grid": "diagonal"}, {"overrides": {"(": {"bits": 4}}}):
        with pytest.raises(SquantError) as caught:
            ModelSettings(**options)
        assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT


def fake_result(name, tensor, bits=4, packed=False):
    """A QuantizedTensor with arbitrary but well-formed values."""
    rng = np.random.default_rng(len(name))
    channels = tensor.shape[0]
    values = rng.integers(-8, 8, size=tensor.shape).astype(np.int8)
    return QuantizedTensor(
        name=name, shape=tensor.shape, dtype="F32",
        values=pack_reference(values) if packed else values,
        scale=rng.uniform(0.01, 0.1, channels).astype(np.float32),
        zero_point=rng.integers(-8, 8, channels).astype(np.int32),
        bits=bits, mode="squant", grid="asymmetric", packed=packed, stats={})


def test_saved_file_follows_the_schema(tmp_path):
    model = models.small_cnn()
    results = {name: fake_result(name, tensor, packed=name == "fc.weight")
               for name, tensor in squant_client.select_weights(model).items()}
    path = tmp_path / "q.safetensors"
    squant_client.save_safetensors(results, path, model, settings=ModelSettings(pack=True))

    metadata, tensors = safetensors_io.read(path)
    expected_order = []
    for name in model:
        expected_order += ([name + suffix for suffix in (".qweight", ".scale", ".zero_point")]
                           if name in results else [name])
    assert list(tensors) == expected_order
    for name, result in results.items():
        np.testing.assert_array_equal(tensors[name + ".qweight"], result.values)
        np.testing.assert_array_equal(tensors[name + ".scale"], result.scale)
        np.testing.assert_array_equal(tensors[name + ".zero_point"], result.zero_point)
    assert tensors["fc.weight.qweight"].shape == (10, math.ceil(289 / 2))
    assert tensors["fc.weight.qweight"].dtype == np.uint8
    np.testing.assert_array_equal(tensors["bn1.num_batches_tracked"],
                                  model["bn1.num_batches_tracked"])
    np.testing.assert_array_equal(tensors["conv1.bias"], model["conv1.bias"])
    assert metadata["quantization_method"] == "squant"
    assert metadata["squant.pack"] == "true"
    assert metadata["squant.tool_version"] == f"squant-client {squant_client.__version__}"
    with open(path, "rb") as file:
        assert int.from_bytes(file.read(8), "little") % 8 == 0


def test_saving_twice_gives_the_same_bytes(tmp_path):
    model = models.small_cnn()
    results = {name: fake_result(name, tensor)
               for name, tensor in squant_client.select_weights(model).items()}
    squant_client.save_safetensors(results, tmp_path / "a", model)
    squant_client.save_safetensors(dict(reversed(results.items())), tmp_path / "b", model)
    assert (tmp_path / "a").read_bytes() == (tmp_path / "b").read_bytes()


def test_name_clash_is_invalid_argument(tmp_path):
    weight = np.ones((2, 2), dtype=np.float32)
    model = {"w": weight, "w.scale": weight[0]}
    with pytest.raises(SquantError) as caught:
        squant_client.save_safetensors({"w": fake_result("w", weight)}, tmp_path / "x", model)
    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "w.scale" in caught.value.message
    assert not (tmp_path / "x").exists()


def test_dequantize_is_scale_times_q_minus_zero_point():
    result = fake_result("w", np.zeros((4, 3, 2)))
    expected = result.scale[:, None, None] * (result.values.astype(np.float32)
                                              - result.zero_point[:, None, None])
    np.testing.assert_allclose(result.dequantize(), expected, rtol=1e-6)


def test_select_weights_picks_what_the_cli_picks():
    model = models.small_cnn()
    assert list(squant_client.select_weights(model)) == [
        "conv1.weight", "conv2.weight", "depthwise.weight", "fc.weight"]
    assert list(squant_client.select_weights(model, include=["conv"], exclude=["conv2"])) == [
        "conv1.weight"]


def test_torch_state_dict_saves_like_its_numpy_twin(tmp_path):
    torch = pytest.importorskip("torch")
    model = models.small_cnn()
    results = {name: fake_result(name, tensor)
               for name, tensor in squant_client.select_weights(model).items()}
    state_dict = {name: torch.from_numpy(tensor) for name, tensor in model.items()}
    state_dict["conv1.bias"] = state_dict["conv1.bias"].expand(2, 16)[0]  # a strided view
    squant_client.save_safetensors(results, tmp_path / "numpy", model)
    squant_client.save_safetensors(results, tmp_path / "torch", state_dict)
    assert (tmp_path / "numpy").read_bytes() == (tmp_path / "torch").read_bytes()


def test_torch_bfloat16_keeps_its_bits(tmp_path):
    torch = pytest.importorskip("torch")
    weight = torch.randn(6, 5, generator=torch.Generator().manual_seed(0)).to(torch.bfloat16)
    squant_client.save_safetensors({}, tmp_path / "bf16", {"w": weight})
    _, tensors = safetensors_io.read(tmp_path / "bf16")
    as_float = (tensors["w"].astype(np.uint32) << 16).view(np.float32)
    np.testing.assert_array_equal(as_float, weight.float().numpy())
