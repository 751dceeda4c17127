"""The one exception type the client raises."""

import grpc


class SquantError(Exception):
    """A failed quantization: the gRPC status code and the server's message.

    Problems found before anything is sent (an unsupported dtype, a bad
    option) use the code the server would have answered with, so callers
    handle every failure the same way.
    """

    def __init__(self, code: grpc.StatusCode, message: str):
        super().__init__(f"{code.name}: {message}")
        self.code = code
        self.message = message

    @classmethod
    def from_rpc_error(cls, error: grpc.RpcError) -> "SquantError":
        return cls(error.code(), error.details() or "")


def invalid_argument(message: str) -> SquantError:
    return SquantError(grpc.StatusCode.INVALID_ARGUMENT, message)
