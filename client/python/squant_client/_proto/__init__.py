"""squant.v1 messages and stubs, generated from the proto when the package is built."""

import importlib.util

if importlib.util.find_spec(f"{__name__}.quantization_pb2") is None:
    raise ImportError("squant_client's generated gRPC stubs are missing: install the package "
                      "(pip install ./client/python) instead of importing its source tree")
