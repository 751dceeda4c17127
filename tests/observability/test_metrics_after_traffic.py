"""Scrapes a running squant-server after real gRPC traffic: the exposition
passes `promtool check metrics`, and every counter, histogram and gauge moved
by exactly what the traffic implies."""

import math
import os
import subprocess
import time

import grpc
import pytest

from observability_harness import (SERVICE, Snapshot, Traffic, cli_quantize, env_path, wait_for,
                                   write_safetensors)

# Shapes [M, N, k...] and bits: three layers, one per bit width, so that the
# bits label is checked too.
MODEL_LAYERS = [
    ("obs-layer.conv1.weight", [8, 4, 3, 3], 2),
    ("obs-layer.fc.weight", [16, 40], 4),
    ("obs-layer.conv2.weight", [6, 3, 5], 8),
]
GO_CODE_NAMES = {
    "OK", "Canceled", "Unknown", "InvalidArgument", "DeadlineExceeded", "NotFound",
    "AlreadyExists", "PermissionDenied", "ResourceExhausted", "FailedPrecondition", "Aborted",
    "OutOfRange", "Unimplemented", "Internal", "Unavailable", "DataLoss", "Unauthenticated",
}
HISTOGRAMS = ["squant_layer_quantize_seconds", "squant_layer_queue_seconds",
              "squant_model_seconds", "grpc_server_handling_seconds"]


def grpc_labels(method, rpc_type):
    return {"grpc_service": SERVICE, "grpc_method": method, "grpc_type": rpc_type}


@pytest.fixture(scope="module")
def client(server, stubs):
    traffic = Traffic(*stubs, server.address)
    yield traffic
    traffic.close()


class Moved:
    """Differences between two scrapes."""

    def __init__(self, before, after):
        self.before, self.after = before, after

    def __call__(self, name, **labels):
        return self.after.total(name, **labels) - self.before.total(name, **labels)


def scrape_until(server, before, done, what):
    """Scrapes until done(Moved) holds: the server may record an RPC's end
    only after the client has seen its status."""
    moved = None

    def settled():
        nonlocal moved
        moved = Moved(before, Snapshot(server.scrape()))
        return done(moved)

    wait_for(settled, 10, what=what)
    return moved


def test_exposition_passes_promtool_check_metrics(server, client):
    client.quantize_model(client.model_requests(MODEL_LAYERS))
    client.expect_error(lambda: client.quantize_layer("obs-layer.bad", [4, 4], data=b"\0" * 12),
                        grpc.StatusCode.INVALID_ARGUMENT)
    text = server.scrape()
    check = subprocess.run([env_path("PROMTOOL"), "check", "metrics"], input=text,
                           capture_output=True, text=True, timeout=30)
    assert check.returncode == 0 and check.stdout + check.stderr == "", (
        f"promtool check metrics (exit {check.returncode}):\n{check.stdout}{check.stderr}")


def test_model_stream_moves_every_service_metric(server, client):
    requests = client.model_requests(MODEL_LAYERS)
    before = Snapshot(server.scrape())
    started = time.monotonic()
    responses = client.quantize_model(requests)
    client_seconds = time.monotonic() - started
    model = grpc_labels("QuantizeModel", "bidi_stream")
    moved = scrape_until(server, before,
                         lambda m: m("grpc_server_handled_total", grpc_code="OK", **model) >= 1,
                         "QuantizeModel to be counted as handled OK")

    results = [r.layer_result for r in responses if r.HasField("layer_result")]
    summary = responses[-1].summary
    elements = sum(math.prod(shape) for _, shape, _ in MODEL_LAYERS)
    assert len(results) == 3 and summary.layers == 3 and summary.elements == elements

    assert moved("grpc_server_started_total", **model) == 1
    assert moved("grpc_server_handled_total", **model) == 1
    assert moved("grpc_server_handled_total", grpc_code="OK", **model) == 1
    assert moved("grpc_server_handling_seconds_count", **model) == 1
    assert 0 < moved("grpc_server_handling_seconds_sum", **model) <= client_seconds
    assert moved("grpc_server_msg_received_total", **model) == len(requests)
    assert moved("grpc_server_msg_sent_total", **model) == len(responses)

    assert moved("squant_layers_total") == 3
    for _, _, bits in MODEL_LAYERS:
        assert moved("squant_layers_total", bits=bits) == 1, f"bits={bits}"
        assert moved("squant_layer_quantize_seconds_count", bits=bits) == 1, f"bits={bits}"
    assert moved("squant_elements_total") == elements
    assert moved("squant_received_bytes_total") == 4 * elements == summary.bytes_received
    assert moved("squant_sent_bytes_total") == summary.bytes_sent == sum(r.values_bytes for r in results)

    assert moved("squant_layer_quantize_seconds_count") == 3
    assert moved("squant_layer_queue_seconds_count") == 3
    quantize_seconds = sum(r.stats.quantize_seconds for r in results)
    queue_seconds = sum(r.stats.queue_seconds for r in results)
    assert moved("squant_layer_quantize_seconds_sum") == pytest.approx(quantize_seconds, rel=0.1, abs=1e-3)
    assert moved("squant_layer_queue_seconds_sum") == pytest.approx(queue_seconds, rel=0.1, abs=1e-3)
    assert moved("squant_model_seconds_count") == 1
    assert summary.seconds * 0.9 <= moved("squant_model_seconds_sum") <= client_seconds
    assert moved("squant_errors_total") == 0


def test_unary_layer_and_its_invalid_argument(server, client):
    layer = grpc_labels("QuantizeLayer", "unary")
    before = Snapshot(server.scrape())
    client.quantize_layer("obs-layer.unary.weight", [4, 6], bits=4)
    # 4 x 4 float32 needs 64 bytes; 12 is a byte-count error.
    error = client.expect_error(lambda: client.quantize_layer("obs-layer.short", [4, 4], data=b"\0" * 12),
                                grpc.StatusCode.INVALID_ARGUMENT)
    assert "obs-layer.short" in error.details()
    moved = scrape_until(server, before, lambda m: m("grpc_server_handled_total", **layer) >= 2,
                         "both QuantizeLayer calls to be counted as handled")

    assert moved("grpc_server_started_total", **layer) == 2
    assert moved("grpc_server_handled_total", grpc_code="OK", **layer) == 1
    assert moved("grpc_server_handled_total", grpc_code="InvalidArgument", **layer) == 1
    assert moved("grpc_server_handling_seconds_count", **layer) == 2
    assert moved("grpc_server_msg_received_total", **layer) == 2
    assert moved("grpc_server_msg_sent_total", **layer) == 1
    assert moved("squant_layers_total", bits=4) == 1
    assert moved("squant_elements_total") == 24
    assert_one_error_reason(moved, "byte_count")


def test_stream_error_counts_invalid_argument_and_frees_the_stream(server, client):
    pb2 = client.pb2
    model = grpc_labels("QuantizeModel", "bidi_stream")
    before = Snapshot(server.scrape())
    requests = [
        pb2.QuantizeModelRequest(options=pb2.ModelOptions()),
        pb2.QuantizeModelRequest(layer_chunk=pb2.LayerChunk(layer_id=99, data=b"\0" * 16)),
    ]
    client.expect_error(lambda: client.quantize_model(requests), grpc.StatusCode.INVALID_ARGUMENT)
    moved = scrape_until(server, before,
                         lambda m: m("grpc_server_handled_total", grpc_code="InvalidArgument", **model) >= 1,
                         "the failed stream to be counted as InvalidArgument")
    assert moved("grpc_server_started_total", **model) == 1
    assert moved("grpc_server_handled_total", **model) == 1
    assert moved("squant_layers_total") == 0
    assert_one_error_reason(moved, "unknown_layer")
    assert_idle(server)


@pytest.mark.skipif(not os.environ.get("SQUANT_CLI"), reason="squant-cli is not built")
def test_cli_run_moves_stream_and_layer_counters(server, client, tmp_path):
    tensors = {"obs-layer.cli.conv.weight": [8, 4, 3, 3], "obs-layer.cli.fc.weight": [16, 40]}
    model = grpc_labels("QuantizeModel", "bidi_stream")
    write_safetensors(tmp_path / "in.safetensors", tensors)
    before = Snapshot(server.scrape())
    cli_quantize(server.address, tmp_path / "in.safetensors", tmp_path / "out.safetensors")

    def streams_ended(m):
        return m("grpc_server_started_total", **model) >= 1 and (
            m("grpc_server_handled_total", **model) == m("grpc_server_started_total", **model))

    moved = scrape_until(server, before, streams_ended, "squant-cli's streams to be counted as handled")
    elements = sum(math.prod(shape) for shape in tensors.values())
    assert moved("grpc_server_handled_total", grpc_code="OK", **model) == moved("grpc_server_started_total", **model)
    assert moved("squant_layers_total", bits=4) == moved("squant_layers_total") == 2
    assert moved("squant_elements_total") == elements
    assert moved("squant_received_bytes_total") == 4 * elements
    assert moved("squant_layer_quantize_seconds_count") == moved("squant_layer_queue_seconds_count") == 2
    assert moved("squant_model_seconds_count") == moved("grpc_server_started_total", **model)
    assert moved("squant_errors_total") == 0


def assert_one_error_reason(moved, reason):
    """squant_errors_total moved by one, for `reason` only."""
    changed = {}
    for key, value in moved.after.series("squant_errors_total").items():
        if value != moved.before.samples.get(key, 0.0):
            changed[dict(key[1]).get("reason")] = value - moved.before.samples.get(key, 0.0)
    assert changed == {reason: 1}, f"squant_errors_total moved by reason: {changed}"


def assert_idle(server):
    """Once no call runs, the in-flight gauges are back to zero."""
    def idle():
        now = Snapshot(server.scrape())
        return all(now.total(name) == 0 for name in
                   ("squant_streams_in_flight", "squant_buffered_bytes", "squant_workers_busy"))
    wait_for(idle, 10, what="squant_streams_in_flight, squant_buffered_bytes and squant_workers_busy to be 0")


def test_capabilities_workers_and_build_info(server, client):
    unary = grpc_labels("GetCapabilities", "unary")
    before = Snapshot(server.scrape())
    capabilities = client.capabilities()
    moved = scrape_until(server, before, lambda m: m("grpc_server_handled_total", grpc_code="OK", **unary) >= 1,
                         "GetCapabilities to be counted")
    assert moved("grpc_server_started_total", **unary) == 1
    assert moved("grpc_server_msg_sent_total", **unary) == 1
    now = moved.after
    assert capabilities.workers >= 1
    assert now.total("squant_workers") == capabilities.workers
    assert now.series("squant_build_info") == {
        ("squant_build_info", (("version", capabilities.server_version),)): 1.0}
    assert_idle(server)


def test_histograms_are_consistent_and_span_microseconds_to_minutes(server, client):
    client.quantize_model(client.model_requests(MODEL_LAYERS))
    now = Snapshot(server.scrape())
    for histogram in HISTOGRAMS:
        counts = now.series(histogram + "_count")
        assert counts, f"{histogram} has no series"
        bounds = set()
        for (_, labels), count in counts.items():
            labels = dict(labels)
            buckets = sorted(
                (float(dict(key[1])["le"]), value)
                for key, value in now.series(histogram + "_bucket", **labels).items()
                if len(key[1]) == len(labels) + 1)
            assert buckets and buckets[-1][0] == math.inf and buckets[-1][1] == count, (histogram, labels)
            assert all(a[1] <= b[1] for a, b in zip(buckets, buckets[1:])), f"{histogram} buckets not cumulative"
            bounds.update(bound for bound, _ in buckets if bound != math.inf)
        if histogram.startswith("squant_layer_"):
            assert min(bounds) <= 1e-4, f"{histogram}: smallest bucket {min(bounds)} s, want tens of microseconds"
        assert max(bounds) >= 60, f"{histogram}: largest bucket {max(bounds)} s, want minutes"


def test_labels_are_bounded(server, client):
    client.quantize_model(client.model_requests(MODEL_LAYERS))
    now = Snapshot(server.scrape())
    for (name, labels), _ in now.samples.items():
        labels = dict(labels)
        for key, value in labels.items():
            assert "obs-layer" not in value and "127.0.0.1" not in value, (
                f"{name} has an unbounded label {key}={value!r} (a layer name or peer)")
        if name.startswith("grpc_server_"):
            assert labels.get("grpc_service") == SERVICE, name
            assert labels.get("grpc_method") in {"QuantizeModel", "QuantizeLayer", "GetCapabilities"}, name
            assert labels.get("grpc_type") in {"unary", "bidi_stream"}, name
            if "grpc_code" in labels:
                assert labels["grpc_code"] in GO_CODE_NAMES, f"{name}: {labels['grpc_code']} is not a Go code name"
            assert not (name.startswith("grpc_server_handling_seconds") and "grpc_code" in labels), name
