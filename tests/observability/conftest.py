"""Fixtures every observability test module starts from: one squant-server
per module, and the squant.v1 Python stubs to call it with."""

import pytest

from observability_harness import SquantServer, load_stubs


@pytest.fixture(scope="module")
def server():
    """A module's squant-server; it must drain and exit 0 on SIGTERM once the
    module's tests are done."""
    running = SquantServer()
    yield running
    running.assert_clean_exit()


@pytest.fixture(scope="module")
def stubs(tmp_path_factory):
    """(quantization_pb2, quantization_pb2_grpc), generated for this run."""
    return load_stubs(str(tmp_path_factory.mktemp("stubs")))
