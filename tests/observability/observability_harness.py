"""Shared pieces of the observability tests: a running squant-server, gRPC
traffic, /metrics parsing and a real Prometheus, all on loopback.

Paths come from the environment, set by tests/observability/CMakeLists.txt:
SQUANT_SERVER, SQUANT_PROTO_DIR, SQUANT_PROTOC, SQUANT_GRPC_PYTHON_PLUGIN,
PROMETHEUS, PROMTOOL, SQUANT_DASHBOARD, SQUANT_ALERTS, and SQUANT_CLI when
squant-cli is built.
"""

import array
import contextlib
import importlib
import json
import math
import os
import random
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import grpc

SERVICE = "squant.v1.QuantizationService"


def env_path(name):
    value = os.environ.get(name)
    if not value:
        raise RuntimeError(f"environment variable {name} is not set (run through ctest)")
    return value


def wait_for(predicate, timeout, interval=0.1, what="condition"):
    """Polls predicate() until it returns a truthy value, or fails."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def terminate(process, timeout):
    """SIGTERM, then SIGKILL if the process has not exited after timeout
    seconds; returns its exit code."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


def http_get(url, timeout=5.0):
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read().decode("utf-8")


# ---------------------------------------------------------------- stubs


def load_stubs(out_dir):
    """Generates the squant.v1 Python messages and stubs into out_dir with
    protoc and gRPC's Python plugin, and imports them."""
    proto_dir = env_path("SQUANT_PROTO_DIR")
    subprocess.run(
        [env_path("SQUANT_PROTOC"), f"-I{proto_dir}",
         f"--python_out={out_dir}", f"--grpc_python_out={out_dir}",
         f"--plugin=protoc-gen-grpc_python={env_path('SQUANT_GRPC_PYTHON_PLUGIN')}",
         os.path.join(proto_dir, "squant/v1/quantization.proto")],
        check=True)
    sys.path.insert(0, out_dir)
    pb2 = importlib.import_module("squant.v1.quantization_pb2")
    pb2_grpc = importlib.import_module("squant.v1.quantization_pb2_grpc")
    return pb2, pb2_grpc


# ---------------------------------------------------------------- server


class SquantServer:
    """squant-server on loopback with OS-chosen ports, read from the JSON
    line it logs once it listens."""

    def __init__(self, extra_args=()):
        self.lines = []
        self._cond = threading.Condition()
        self.process = subprocess.Popen(
            [env_path("SQUANT_SERVER"), "--port=0", "--metrics_port=0",
             "--bind_address=127.0.0.1", "--metrics_bind_address=127.0.0.1",
             *extra_args],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        threading.Thread(target=self._read_output, daemon=True).start()
        try:
            event = wait_for(self._listening_event, 20, what="squant-server's listening log line")
        except AssertionError:
            self.stop()
            raise AssertionError("squant-server did not log its ports:\n" + "".join(self.lines))
        self.port = int(event["port"])
        self.metrics_port = int(event["metrics_port"])
        self.address = f"127.0.0.1:{self.port}"
        self.metrics_url = f"http://127.0.0.1:{self.metrics_port}/metrics"

    def _read_output(self):
        for line in self.process.stdout:
            with self._cond:
                self.lines.append(line)

    def _listening_event(self):
        if self.process.poll() is not None:
            raise AssertionError(
                f"squant-server exited with {self.process.returncode}:\n" + "".join(self.lines))
        with self._cond:
            lines = list(self.lines)
        for line in lines:
            with contextlib.suppress(ValueError):
                event = json.loads(line)
                if isinstance(event, dict) and event.get("event") == "listening":
                    return event
        return None

    def scrape(self):
        return http_get(self.metrics_url)

    def stop(self):
        """Stops the server as Kubernetes does (SIGTERM) and returns its exit
        code; a server that does not drain in time is killed."""
        return terminate(self.process, timeout=30)

    def assert_clean_exit(self):
        code = self.stop()
        with self._cond:
            output = "".join(self.lines)
        assert code == 0, f"squant-server exited with {code} on SIGTERM:\n{output}"


# ---------------------------------------------------------------- traffic


def random_f32_bytes(count, seed):
    rng = random.Random(seed)
    values = array.array("f", (rng.gauss(0.0, 0.05) for _ in range(count)))
    if sys.byteorder != "little":
        values.byteswap()
    return values.tobytes()


class Traffic:
    """Drives the three RPCs the way a client does."""

    def __init__(self, pb2, pb2_grpc, address):
        self.pb2 = pb2
        self.channel = grpc.insecure_channel(address)
        grpc.channel_ready_future(self.channel).result(timeout=10)
        self.stub = pb2_grpc.QuantizationServiceStub(self.channel)

    def close(self):
        self.channel.close()

    def capabilities(self):
        return self.stub.GetCapabilities(self.pb2.GetCapabilitiesRequest(), timeout=10)

    def model_requests(self, layers, chunk_bytes=4096):
        """The request messages of a QuantizeModel stream; layers are
        (name, shape, bits) tuples. Each layer goes in chunks of chunk_bytes."""
        pb2 = self.pb2
        requests = [pb2.QuantizeModelRequest(options=pb2.ModelOptions(
            defaults=pb2.QuantizationOptions(bits=4, mode=pb2.MODE_SQUANT),
            model_name="observability-test"))]
        for layer_id, (name, shape, bits) in enumerate(layers, start=1):
            requests.append(pb2.QuantizeModelRequest(layer_header=pb2.LayerHeader(
                layer_id=layer_id, name=name, shape=shape, dtype=pb2.DTYPE_F32,
                overrides=pb2.QuantizationOptions(bits=bits))))
            data = random_f32_bytes(math.prod(shape), seed=layer_id)
            for offset in range(0, len(data), chunk_bytes):
                requests.append(pb2.QuantizeModelRequest(layer_chunk=pb2.LayerChunk(
                    layer_id=layer_id, data=data[offset:offset + chunk_bytes])))
        return requests

    def quantize_model(self, requests):
        """Runs one QuantizeModel stream; returns the responses."""
        return list(self.stub.QuantizeModel(iter(requests), timeout=30))

    def quantize_layer(self, name, shape, data=None, bits=4):
        pb2 = self.pb2
        if data is None:
            data = random_f32_bytes(math.prod(shape), seed=7)
        return self.stub.QuantizeLayer(pb2.QuantizeLayerRequest(
            options=pb2.QuantizationOptions(bits=bits), name=name, shape=shape,
            dtype=pb2.DTYPE_F32, data=data), timeout=10)

    def expect_error(self, call, code):
        try:
            call()
        except grpc.RpcError as error:
            if error.code() != code:
                raise AssertionError(f"expected {code}, got {error.code()}: {error.details()}")
            return error
        raise AssertionError(f"expected {code}, the call succeeded")


def write_safetensors(path, tensors):
    """Writes float32 tensors, {name: shape}, in the safetensors format (u64
    little-endian header length, JSON header, data) with random values."""
    header, blobs, offset = {}, [], 0
    for seed, (name, shape) in enumerate(tensors.items()):
        blob = random_f32_bytes(math.prod(shape), seed)
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    header_bytes = json.dumps(header).encode("utf-8")
    header_bytes += b" " * (-len(header_bytes) % 8)
    with open(path, "wb") as out:
        out.write(len(header_bytes).to_bytes(8, "little") + header_bytes + b"".join(blobs))


def cli_quantize(server_address, input_path, output_path):
    """Quantizes a safetensors file through the server with squant-cli."""
    result = subprocess.run(
        [env_path("SQUANT_CLI"), "quantize", f"--input={input_path}", f"--output={output_path}",
         f"--server={server_address}"],
        capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        raise AssertionError(f"squant-cli exited with {result.returncode}:\n{result.stdout}{result.stderr}")
    return result


# ---------------------------------------------------------------- /metrics

_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$')
_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?')


def _unescape(value):
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), value)


def parse_metrics(text):
    """Parses the Prometheus text format into {(name, labels): value} with
    labels a sorted tuple of (key, value); # lines are skipped."""
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        if not match:
            raise AssertionError(f"unparsable exposition line: {line!r}")
        name, label_text, value = match.groups()
        labels = []
        position = 0
        label_text = label_text or ""
        while position < len(label_text):
            label = _LABEL.match(label_text, position)
            if not label:
                raise AssertionError(f"unparsable labels in: {line!r}")
            labels.append((label.group(1), _unescape(label.group(2))))
            position = label.end()
        samples[(name, tuple(sorted(labels)))] = float(value)
    return samples


class Snapshot:
    """One scrape, queried by metric name and a subset of labels."""

    def __init__(self, text):
        self.text = text
        self.samples = parse_metrics(text)

    def series(self, name, **labels):
        wanted = {k: str(v) for k, v in labels.items()}
        return {key: value for key, value in self.samples.items()
                if key[0] == name and wanted.items() <= dict(key[1]).items()}

    def total(self, name, **labels):
        """Sum over the matching series; 0 when none exists yet (a labelled
        series appears on first use)."""
        return sum(self.series(name, **labels).values())


# ---------------------------------------------------------------- Prometheus


class Prometheus:
    """A Prometheus server on loopback scraping one target every second,
    with the given rule files, storing into a temporary directory."""

    def __init__(self, target, rule_files, work_dir, job="squant"):
        self.work_dir = work_dir
        config = os.path.join(work_dir, "prometheus.yml")
        with open(config, "w") as out:
            json.dump({  # JSON is YAML
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "rule_files": list(rule_files),
                "scrape_configs": [{"job_name": job, "static_configs": [{"targets": [target]}]}],
            }, out)
        self.log_path = os.path.join(work_dir, "prometheus.log")
        for attempt in range(3):
            self.port = free_port()
            self.url = f"http://127.0.0.1:{self.port}"
            with open(self.log_path, "w") as log:
                self.process = subprocess.Popen(
                    [env_path("PROMETHEUS"), f"--config.file={config}",
                     f"--storage.tsdb.path={os.path.join(work_dir, 'data')}",
                     f"--web.listen-address=127.0.0.1:{self.port}",
                     "--storage.tsdb.retention.time=1h", "--log.level=warn"],
                    stdout=log, stderr=subprocess.STDOUT)
            try:
                wait_for(self._ready, 30, interval=0.2, what="Prometheus to be ready")
                return
            except AssertionError:
                if self.process.poll() is None or attempt == 2:  # running but not ready
                    self.stop()
                    raise AssertionError("Prometheus did not start:\n" + self.log())
                # Exited: most likely lost the race for the port; try another.

    def log(self):
        with open(self.log_path) as log:
            return log.read()

    def _ready(self):
        if self.process.poll() is not None:
            raise AssertionError(f"Prometheus exited with {self.process.returncode}:\n" + self.log())
        try:
            return http_get(self.url + "/-/ready", timeout=1).strip() != ""
        except OSError:
            return False

    def api(self, path, **params):
        """GET /api/v1/<path>; returns the decoded JSON, whose 'status' is
        'success' or 'error' (HTTP 400/422 bodies are returned too)."""
        url = f"{self.url}/api/v1/{path}?{urllib.parse.urlencode(params, doseq=True)}"
        try:
            return json.loads(http_get(url))
        except urllib.error.HTTPError as error:
            return json.loads(error.read().decode("utf-8"))

    def query(self, expr):
        return self.api("query", query=expr)

    def stop(self):
        terminate(self.process, timeout=20)
