#!/usr/bin/python3
"""Interop: Python grpcio, with stubs generated now from our proto, quantizes
every golden case through a running squant-server and checks q byte for byte
(q_stable where present; constant channels, encoded by SQUANT.md's
degenerate-channel rule, are skipped). Also calls grpc.health.v1.

Needs Debian's python3-grpcio, python3-numpy, protobuf-compiler and
protobuf-compiler-grpc."""

import argparse
import glob
import json
import os
import re
import struct
import subprocess
import sys
import tempfile
import time
import unittest

import numpy as np

ARGS = None
DTYPES = {"F32": np.float32, "F16": np.float16, "BF16": None, "I8": np.int8}


def read_safetensors(path):
    with open(path, "rb") as f:
        blob = f.read()
    (header_len,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + header_len])
    data = blob[8 + header_len:]
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        tensors[name] = (info["dtype"], info["shape"], data[start:end])
    return header.get("__metadata__", {}), tensors


def generate_stubs(out_dir):
    """Debian's python3-grpc-tools bundles protoc 3.6, which predates proto3
    `optional` (used by our proto): messages and stubs come from Debian's
    protoc 3.21 and grpc_python_plugin (the same generator grpc_tools
    wraps)."""
    for root, proto in ((ARGS.proto_root, "squant/v1/quantization.proto"),
                        (ARGS.health_proto_root, "grpc/health/v1/health.proto")):
        subprocess.run([ARGS.protoc, "-I", root, "--python_out", out_dir,
                        "--grpc_python_out", out_dir,
                        "--plugin=protoc-gen-grpc_python=" + ARGS.grpc_python_plugin,
                        os.path.join(root, proto)], check=True)
    sys.path.insert(0, out_dir)
    # grpc.health.v1 lives under the installed `grpc` package's name.
    import grpc
    grpc.__path__.append(os.path.join(out_dir, "grpc"))


class InteropTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        generate_stubs(cls.tmp.name)
        cls.server = subprocess.Popen(
            [ARGS.server, "--port=0", "--metrics_port=0", "--workers=2",
             "--bind_address=127.0.0.1", "--metrics_bind_address=127.0.0.1"],
            stdout=subprocess.PIPE, text=True)
        deadline = time.time() + 20
        cls.port = None
        while time.time() < deadline:
            line = cls.server.stdout.readline()
            if not line:
                break
            if '"event":"listening"' in line:
                cls.port = json.loads(line)["port"]
                break
        if cls.port is None:
            cls.server.kill()
            raise RuntimeError("squant-server did not print its listening line")
        import grpc
        cls.channel = grpc.insecure_channel(
            "127.0.0.1:%d" % cls.port,
            options=[("grpc.max_receive_message_length", -1)])

    @classmethod
    def tearDownClass(cls):
        cls.channel.close()
        cls.server.terminate()
        cls.server.wait(timeout=30)
        cls.tmp.cleanup()

    def test_health_service_reports_serving(self):
        from grpc.health.v1 import health_pb2, health_pb2_grpc
        stub = health_pb2_grpc.HealthStub(self.channel)
        for service in ("", "squant.v1.QuantizationService"):
            response = stub.Check(health_pb2.HealthCheckRequest(service=service),
                                  timeout=10)
            self.assertEqual(response.status,
                             health_pb2.HealthCheckResponse.SERVING)

    def test_golden_cases_match_byte_for_byte(self):
        from squant.v1 import quantization_pb2 as pb
        from squant.v1 import quantization_pb2_grpc as pb_grpc
        modes = {"squant": pb.MODE_SQUANT, "squant-k": pb.MODE_SQUANT_K,
                 "squant-c": pb.MODE_SQUANT_C, "squant-e": pb.MODE_SQUANT_E}
        dtypes = {"F32": pb.DTYPE_F32, "F16": pb.DTYPE_F16,
                  "BF16": pb.DTYPE_BF16}
        cases = sorted(glob.glob(os.path.join(ARGS.golden_dir,
                                              "*.safetensors")))
        self.assertGreater(len(cases), 0, "no golden cases in " + ARGS.golden_dir)
        layers = {}
        requests = [pb.QuantizeModelRequest(
            options=pb.ModelOptions(model_name="golden"))]
        for layer_id, path in enumerate(cases):
            metadata, tensors = read_safetensors(path)
            dtype, shape, weight = tensors["weight"]
            want_name = "q_stable" if "q_stable" in tensors else "q"
            want = np.frombuffer(tensors[want_name][2], np.int8).reshape(
                shape[0], -1)
            const = [int(c) for c in metadata.get("channels_const", "").split(",")
                     if c]
            layers[layer_id] = (os.path.basename(path), want, const)
            overrides = pb.QuantizationOptions(bits=int(metadata["bits"]),
                                               mode=modes[metadata["mode"]])
            requests.append(pb.QuantizeModelRequest(layer_header=pb.LayerHeader(
                layer_id=layer_id, name=os.path.basename(path), shape=shape,
                dtype=dtypes[dtype], overrides=overrides)))
            for offset in range(0, len(weight), 65536):
                requests.append(pb.QuantizeModelRequest(
                    layer_chunk=pb.LayerChunk(
                        layer_id=layer_id, data=weight[offset:offset + 65536])))

        stub = pb_grpc.QuantizationServiceStub(self.channel)
        results, values, summary = {}, {}, None
        for response in stub.QuantizeModel(iter(requests), timeout=60):
            kind = response.WhichOneof("kind")
            if kind == "layer_result":
                results[response.layer_result.layer_id] = response.layer_result
                values[response.layer_result.layer_id] = bytearray()
            elif kind == "layer_values":
                chunk = response.layer_values
                self.assertEqual(chunk.offset, len(values[chunk.layer_id]))
                values[chunk.layer_id] += chunk.data
            else:
                summary = response.summary
        self.assertIsNotNone(summary)
        self.assertEqual(summary.layers, len(cases))
        compared = 0
        for layer_id, (name, want, const) in layers.items():
            got = np.frombuffer(bytes(values[layer_id]), np.int8).reshape(
                want.shape)
            keep = [m for m in range(want.shape[0]) if m not in const]
            self.assertTrue(np.array_equal(got[keep], want[keep]),
                            "q differs in " + name)
            self.assertEqual(len(results[layer_id].scale), want.shape[0])
            compared += 1
        self.assertEqual(compared, len(cases))

    def test_quantize_layer_unary(self):
        from squant.v1 import quantization_pb2 as pb
        from squant.v1 import quantization_pb2_grpc as pb_grpc
        path = os.path.join(ARGS.golden_dir,
                            "case004_64x64x3x3_b4_squant_normal_f32.safetensors")
        _, tensors = read_safetensors(path)
        _, shape, weight = tensors["weight"]
        stub = pb_grpc.QuantizationServiceStub(self.channel)
        response = stub.QuantizeLayer(pb.QuantizeLayerRequest(
            options=pb.QuantizationOptions(bits=4), name="case004", shape=shape,
            dtype=pb.DTYPE_F32, data=weight), timeout=30)
        self.assertEqual(response.values, tensors["q"][2])

    def test_bad_shape_is_invalid_argument(self):
        import grpc
        from squant.v1 import quantization_pb2 as pb
        from squant.v1 import quantization_pb2_grpc as pb_grpc
        stub = pb_grpc.QuantizationServiceStub(self.channel)
        with self.assertRaises(grpc.RpcError) as caught:
            stub.QuantizeLayer(pb.QuantizeLayerRequest(
                name="flat", shape=[5], dtype=pb.DTYPE_F32, data=b"\0" * 20),
                timeout=30)
        self.assertEqual(caught.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
        self.assertIn('layer 0 "flat"', caught.exception.details())


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", required=True)
    parser.add_argument("--proto_root", required=True)
    parser.add_argument("--health_proto_root", required=True)
    parser.add_argument("--golden_dir", required=True)
    parser.add_argument("--protoc", default="/usr/bin/protoc")
    parser.add_argument("--grpc_python_plugin",
                        default="/usr/bin/grpc_python_plugin")
    ARGS, rest = parser.parse_known_args()
    unittest.main(argv=[sys.argv[0]] + rest)
