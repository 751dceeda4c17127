"""Prints how fast the Python client quantizes a model through a server,
next to squant-cli through the same server and squant-cli --local, in the
same run (ratios, not absolute targets).

    SQUANT_SERVER=build/server/squant-server SQUANT_CLI=build/client/cli/squant-cli \\
      ~/venv/squant/bin/python client/python/benchmarks/stream_throughput.py [--layers 12]

Needs squant_client importable (pip install ./client/python). Starts its
own server on 127.0.0.1 and stops it at the end.
"""

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

import numpy as np

import squant_client

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "tests"))
import safetensors_io  # noqa: E402  (the tests' plain writer)


def best_seconds(run, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def start_server():
    server = subprocess.Popen(
        [os.environ["SQUANT_SERVER"], "--bind_address=127.0.0.1", "--port=0",
         "--metrics_bind_address=127.0.0.1", "--metrics_port=0"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    for line in server.stdout:
        event = json.loads(line)
        if event.get("event") == "listening":
            return server, f"127.0.0.1:{event['port']}"
    raise SystemExit("squant-server exited before listening")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--layers", type=int, default=12, help="[512, 512, 3, 3] F32 layers")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    model = {f"layer{i}.weight": rng.normal(0, 0.1, (512, 512, 3, 3)).astype(np.float32)
             for i in range(args.layers)}
    mib = sum(tensor.nbytes for tensor in model.values()) / 2**20
    server, address = start_server()
    try:
        with tempfile.TemporaryDirectory() as directory:
            model_path = pathlib.Path(directory) / "model.safetensors"
            output_path = pathlib.Path(directory) / "out.safetensors"
            safetensors_io.write(model_path, model)
            cli = [os.environ["SQUANT_CLI"], "quantize", "--input", str(model_path),
                   "--output", str(output_path), "--json"]
            runs = {
                "python client": lambda: squant_client.quantize(model, address, timeout=600),
                "squant-cli --server (1 stream)": lambda: subprocess.run(
                    cli + ["--server", address, "--streams", "1"], check=True,
                    capture_output=True),
                "squant-cli --local": lambda: subprocess.run(
                    cli + ["--local"], check=True, capture_output=True),
            }
            seconds = {name: best_seconds(run, args.repeats) for name, run in runs.items()}
    finally:
        server.terminate()
        server.wait(timeout=60)
    baseline = seconds["squant-cli --server (1 stream)"]
    print(f"{args.layers} layers, {mib:.0f} MiB of F32 weights, best of {args.repeats}")
    for name, value in seconds.items():
        print(f"  {name:32} {value:7.3f} s  {mib / value:6.0f} MiB/s  "
              f"{value / baseline:5.2f}x the CLI's time")


if __name__ == "__main__":
    main()
