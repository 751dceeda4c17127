"""Builds squant-client, generating the squant.v1 stubs from the repo's proto.

The stubs are generated at build time, never committed, so they cannot drift
from proto/squant/v1/quantization.proto. Two generators are tried in order:

1. grpc_tools.protoc (pip's grpcio-tools): its bundled protoc matches the
   protobuf runtime pip installed beside it.
2. protoc + grpc_python_plugin from PATH (Debian: protobuf-compiler,
   protobuf-compiler-grpc). Debian 12's python3-grpc-tools is 1.14, whose
   protoc predates proto3 `optional` (QuantizationOptions.pack) and fails,
   so on Debian this is the path taken.

SQUANT_PROTO_DIR overrides where the proto tree is (default ../../proto);
PROTOC and GRPC_PYTHON_PLUGIN name the tools of (2) and put it first.
"""

import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = pathlib.Path(__file__).resolve().parent
PROTO_FILE = "squant/v1/quantization.proto"
# grpc's Python plugin imports the messages by their proto package path
# (`from squant.v1 import ...`); inside our package they are siblings.
PLUGIN_IMPORT = "from squant.v1 import quantization_pb2 as"
PACKAGE_IMPORT = "from . import quantization_pb2 as"


def _proto_root():
    root = pathlib.Path(os.environ.get("SQUANT_PROTO_DIR", HERE.parent.parent / "proto"))
    if not (root / PROTO_FILE).is_file():
        sys.exit(f"squant-client: {root / PROTO_FILE} not found; build from the "
                 "repository checkout or set SQUANT_PROTO_DIR")
    return root


def _generators():
    """(name, command prefix, flag naming the gRPC output directory), in the
    order to try them: explicitly named tools first."""
    grpc_tools = ("grpc_tools.protoc", [sys.executable, "-m", "grpc_tools.protoc"],
                  "--grpc_python_out")
    protoc = os.environ.get("PROTOC") or shutil.which("protoc")
    plugin = os.environ.get("GRPC_PYTHON_PLUGIN") or shutil.which("grpc_python_plugin")
    if not (protoc and plugin):
        return [grpc_tools]
    system = ("protoc + grpc_python_plugin", [protoc, f"--plugin=protoc-gen-grpc={plugin}"],
              "--grpc_out")
    explicit = "PROTOC" in os.environ or "GRPC_PYTHON_PLUGIN" in os.environ
    return [system, grpc_tools] if explicit else [grpc_tools, system]


def generate_stubs(package_dir):
    """Writes quantization_pb2.py and quantization_pb2_grpc.py into package_dir."""
    proto_root = _proto_root()
    failures = []
    for name, prefix, grpc_out_flag in _generators():
        with tempfile.TemporaryDirectory() as out:
            command = [*prefix, f"-I{proto_root}", f"--python_out={out}",
                       f"{grpc_out_flag}={out}", PROTO_FILE]
            run = subprocess.run(command, cwd=proto_root, capture_output=True, text=True)
            if run.returncode != 0:
                failures.append(f"{name}: {run.stderr.strip() or run.stdout.strip()}")
                continue
            generated = pathlib.Path(out) / "squant" / "v1"
            grpc_source = (generated / "quantization_pb2_grpc.py").read_text()
            if PLUGIN_IMPORT not in grpc_source:
                sys.exit(f"squant-client: unexpected import in {name}'s output")
            package_dir.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(generated / "quantization_pb2.py",
                            package_dir / "quantization_pb2.py")
            (package_dir / "quantization_pb2_grpc.py").write_text(
                grpc_source.replace(PLUGIN_IMPORT, PACKAGE_IMPORT))
            return
    sys.exit("squant-client: cannot generate the gRPC stubs:\n  " + "\n  ".join(failures)
             + "\nInstall grpcio-tools, or protoc and grpc_python_plugin.")


class BuildPyWithStubs(build_py):
    def run(self):
        super().run()
        generate_stubs(pathlib.Path(self.build_lib) / "squant_client" / "_proto")


setup(cmdclass={"build_py": BuildPyWithStubs})
