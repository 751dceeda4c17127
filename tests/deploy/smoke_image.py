"""Calls a running squant-server container from the host: grpc.health.v1 on
the gRPC and health ports, GetCapabilities, one QuantizeLayer (checked against
its own numbers), one bad request, then a /metrics scrape.

Run with Debian's interpreter (python3-grpcio, python3-numpy; protoc and
grpc_python_plugin on PATH):
  /usr/bin/python3 tests/deploy/smoke_image.py --grpc 127.0.0.1:50051 \
      --health 127.0.0.1:8081 --metrics http://127.0.0.1:9464/metrics
Stubs are generated from proto/squant/v1/quantization.proto into a temporary
folder at run time.
"""

import argparse
import importlib
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

import grpc
import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[2]

# grpc.health.v1 is not packaged for Debian's python3-grpcio: its (stable,
# tiny) contract, from grpc/src/proto/grpc/health/v1/health.proto.
HEALTH_PROTO = """
syntax = "proto3";
package grpc.health.v1;
message HealthCheckRequest { string service = 1; }
message HealthCheckResponse {
  enum ServingStatus { UNKNOWN = 0; SERVING = 1; NOT_SERVING = 2; SERVICE_UNKNOWN = 3; }
  ServingStatus status = 1;
}
service Health { rpc Check(HealthCheckRequest) returns (HealthCheckResponse); }
"""


def generate_stubs(out_dir):
    # Debian's protoc and gRPC plugin (the build's own): Debian 12's
    # python3-grpc-tools bundles protoc 3.5, older than proto3 `optional`.
    plugin = shutil.which("grpc_python_plugin")
    if not plugin:
        raise RuntimeError("grpc_python_plugin not found (Debian protobuf-compiler-grpc)")
    proto_root = REPO / "proto"
    # Not under grpc/: that would shadow the grpc package itself.
    health_dir = pathlib.Path(out_dir, "proto", "smoke_health")
    health_dir.mkdir(parents=True)
    (health_dir / "health.proto").write_text(HEALTH_PROTO)
    for root, proto in [
        (proto_root, "squant/v1/quantization.proto"),
        (pathlib.Path(out_dir, "proto"), "smoke_health/health.proto"),
    ]:
        subprocess.run(["protoc", f"--plugin=protoc-gen-grpc_python={plugin}",
                        f"-I{root}", f"--python_out={out_dir}",
                        f"--grpc_python_out={out_dir}", str(root / proto)], check=True)
    sys.path.insert(0, out_dir)


def wait_serving(health_pb2, health_grpc, target, timeout_s):
    deadline = time.monotonic() + timeout_s
    last = None
    with grpc.insecure_channel(target) as channel:
        stub = health_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            try:
                response = stub.Check(health_pb2.HealthCheckRequest(), timeout=2)
                if response.status == health_pb2.HealthCheckResponse.SERVING:
                    return
                last = health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)
            except grpc.RpcError as error:
                last = error.code().name
            time.sleep(0.2)
    raise AssertionError(f"{target} not SERVING after {timeout_s} s (last: {last})")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--grpc", required=True, help="host:port of the gRPC server")
    parser.add_argument("--health", help="host:port of the plaintext health-only port")
    parser.add_argument("--metrics", required=True, help="URL of /metrics")
    parser.add_argument("--timeout", type=float, default=30)
    args = parser.parse_args()

    passed = 0
    with tempfile.TemporaryDirectory() as stubs:
        generate_stubs(stubs)
        pb2 = importlib.import_module("squant.v1.quantization_pb2")
        pb2_grpc = importlib.import_module("squant.v1.quantization_pb2_grpc")
        health_pb2 = importlib.import_module("smoke_health.health_pb2")
        health_grpc = importlib.import_module("smoke_health.health_pb2_grpc")

        for target in filter(None, [args.grpc, args.health]):
            started = time.monotonic()
            wait_serving(health_pb2, health_grpc, target, args.timeout)
            print(f"smoke: ok   {target} grpc.health.v1 SERVING after "
                  f"{time.monotonic() - started:.2f} s")
            passed += 1

        with grpc.insecure_channel(args.grpc) as channel:
            stub = pb2_grpc.QuantizationServiceStub(channel)
            caps = stub.GetCapabilities(pb2.GetCapabilitiesRequest(), timeout=10)
            assert caps.workers >= 1 and caps.server_version, caps
            print(f"smoke: ok   GetCapabilities: version {caps.server_version}, "
                  f"{caps.workers} workers")
            passed += 1

            m, n, k = 16, 8, 9
            weights = np.random.default_rng(7).standard_normal((m, n, 3, 3)).astype("<f4")
            request = pb2.QuantizeLayerRequest(
                options=pb2.QuantizationOptions(bits=4), name="smoke.conv.weight",
                shape=list(weights.shape), dtype=pb2.DTYPE_F32, data=weights.tobytes())
            started = time.monotonic()
            response = stub.QuantizeLayer(request, timeout=30)
            seconds = time.monotonic() - started
            result = response.result
            values = np.frombuffer(response.values, dtype=np.int8).reshape(m, n * k)
            scale = np.array(result.scale, dtype=np.float64)[:, None]
            zero_point = np.array(result.zero_point, dtype=np.float64)[:, None]
            assert list(result.shape) == list(weights.shape), result.shape
            assert result.bits == 4 and result.name == "smoke.conv.weight"
            assert len(result.scale) == m and result.values_bytes == m * n * k
            assert values.min() >= -8 and values.max() <= 7, (values.min(), values.max())
            dequantized = scale * (values - zero_point)
            mse = float(np.mean((dequantized - weights.reshape(m, n * k)) ** 2))
            # The server's own statistic must describe the values it sent.
            assert abs(mse - result.stats.mse_squant) <= 1e-4 * max(mse, 1e-12) + 1e-9, (
                mse, result.stats.mse_squant)
            print(f"smoke: ok   QuantizeLayer [16,8,3,3] 4-bit in {seconds * 1e3:.1f} ms, "
                  f"dequantized MSE {mse:.5f} (server says {result.stats.mse_squant:.5f}, "
                  f"round-to-nearest {result.stats.mse_rtn:.5f})")
            passed += 1

            bad = pb2.QuantizeLayerRequest(name="smoke.bad", shape=[4, 4],
                                           dtype=pb2.DTYPE_F32, data=b"\0" * 12)
            try:
                stub.QuantizeLayer(bad, timeout=10)
                raise AssertionError("a 12-byte [4,4] f32 layer was accepted")
            except grpc.RpcError as error:
                assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error
                assert "smoke.bad" in error.details(), error.details()
                print(f"smoke: ok   bad layer -> INVALID_ARGUMENT: {error.details()}")
                passed += 1

    with urllib.request.urlopen(args.metrics, timeout=10) as page:
        text = page.read().decode()
    handled = 0.0
    for labels, value in re.findall(r"^grpc_server_handled_total\{(.*)\} (\S+)$", text, re.M):
        label = dict(re.findall(r'(\w+)="([^"]*)"', labels))
        if label.get("grpc_method") == "QuantizeLayer" and label.get("grpc_code") == "OK":
            handled += float(value)
    assert handled >= 1, "no grpc_server_handled_total for an OK QuantizeLayer in /metrics"
    print(f"smoke: ok   /metrics counts the QuantizeLayer ({len(text)} bytes)")
    passed += 1
    print(f"smoke: {passed} passed, 0 failed")


if __name__ == "__main__":
    main()
