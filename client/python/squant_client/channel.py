"""Opening a channel to a squant server, in plaintext or TLS / mutual TLS."""

import os

import grpc

# The server sends values in chunks of its own choosing (4 MiB by default,
# plus framing), over gRPC's 4 MiB default receive cap: lift the cap.
_CHANNEL_OPTIONS = (("grpc.max_receive_message_length", -1),)


def _pem(value):
    """PEM bytes, given the bytes themselves or a file path."""
    if value is None or isinstance(value, bytes):
        return value
    with open(os.fspath(value), "rb") as file:
        return file.read()


def open_channel(target, *, tls=None, root_certificates=None, private_key=None,
                 certificate_chain=None, server_name=None, channel_options=()):
    """A grpc.Channel to `target` ("host:port", "dns:///name:port", ...).

    tls: None means TLS exactly when a certificate is given; True with no
      root_certificates trusts the system's roots.
    root_certificates: PEM (bytes or a path) of the CA that signed the server.
    private_key, certificate_chain: the client's key and certificate (PEM,
      bytes or paths), for servers that require mutual TLS.
    server_name: the name to expect in the server's certificate when it
      differs from the target's host (for example when connecting by IP).
    channel_options: extra gRPC channel arguments.
    """
    options = list(_CHANNEL_OPTIONS) + list(channel_options)
    if tls is None:
        tls = any(v is not None for v in (root_certificates, private_key, certificate_chain))
    if not tls:
        return grpc.insecure_channel(target, options=options)
    if server_name is not None:
        options.append(("grpc.ssl_target_name_override", server_name))
    credentials = grpc.ssl_channel_credentials(
        root_certificates=_pem(root_certificates),
        private_key=_pem(private_key),
        certificate_chain=_pem(certificate_chain))
    return grpc.secure_channel(target, credentials, options=options)
