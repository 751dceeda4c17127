"""TLS and mutual TLS against servers started with certificates made by openssl."""

import grpc
import pytest

import models
import squant_client
from squant_client import SquantError

TIMEOUT = 60


def test_tls_with_the_servers_ca(server_factory, certificates):
    server = server_factory(f"--tls_cert={certificates['server.pem']}",
                            f"--tls_key={certificates['server.key']}")
    results = squant_client.quantize(models.many_layers(2), server.address, timeout=TIMEOUT,
                                     root_certificates=certificates["ca.pem"])
    assert len(results) == 2


def test_tls_server_refuses_plaintext_and_unknown_ca(server_factory, certificates):
    server = server_factory(f"--tls_cert={certificates['server.pem']}",
                            f"--tls_key={certificates['server.key']}")
    for connection in ({}, {"tls": True}):  # plaintext; TLS trusting only the system's roots
        with pytest.raises(SquantError) as caught:
            squant_client.quantize(models.many_layers(1), server.address, timeout=TIMEOUT,
                                   **connection)
        assert caught.value.code == grpc.StatusCode.UNAVAILABLE


def test_mutual_tls_needs_a_client_certificate(server_factory, certificates):
    server = server_factory(f"--tls_cert={certificates['server.pem']}",
                            f"--tls_key={certificates['server.key']}",
                            f"--tls_client_ca={certificates['ca.pem']}")
    results = squant_client.quantize(
        models.many_layers(2), server.address, timeout=TIMEOUT,
        root_certificates=certificates["ca.pem"],
        certificate_chain=certificates["client.pem"].read_bytes(),  # bytes work as well as paths
        private_key=certificates["client.key"])
    assert len(results) == 2

    with pytest.raises(SquantError) as caught:
        squant_client.quantize(models.many_layers(1), server.address, timeout=TIMEOUT,
                               root_certificates=certificates["ca.pem"])
    assert caught.value.code == grpc.StatusCode.UNAVAILABLE
