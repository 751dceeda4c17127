"""Fixtures: the package installed as users install it, real server processes
on loopback, TLS certificates made with openssl.

Environment: SQUANT_SERVER and SQUANT_CLI, paths of the squant-server and
squant-cli binaries (CMake passes them; see ../CMakeLists.txt).
"""

import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import tempfile
import threading

import pytest

PACKAGE_DIR = pathlib.Path(__file__).resolve().parent.parent
PROTO_DIR = PACKAGE_DIR.parent.parent / "proto"
STARTUP_SECONDS = 30
STOP_SECONDS = 30


_install_root = pathlib.Path(tempfile.mkdtemp(prefix="squant-client-test-"))


def pytest_sessionstart(session):
    """pip-installs the package into a temporary directory, as `pip install
    ./client/python` would, before collection so that the tests import it.
    A copy is built so that the build leaves no files in the repository."""
    source = _install_root / "source"
    site = _install_root / "site"
    shutil.copytree(PACKAGE_DIR, source,
                    ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__", "tests"))
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--root-user-action=ignore",
         "--no-build-isolation", "--no-deps", "--no-index", "--target", str(site), str(source)],
        check=True, timeout=120, env={**os.environ, "SQUANT_PROTO_DIR": str(PROTO_DIR)})
    sys.path.insert(0, str(site))


def pytest_sessionfinish(session):
    shutil.rmtree(_install_root, ignore_errors=True)


def binary(variable):
    path = os.environ.get(variable)
    if not path or not os.access(path, os.X_OK):
        pytest.fail(f"{variable} must name the built binary (ctest sets it); got {path!r}")
    return path


class ServerProcess:
    """A squant-server on 127.0.0.1 with a free port, stopped with SIGTERM.

    `events` collects the JSON log lines of its stdout as they come.
    """

    def __init__(self, log_dir, *flags):
        self.stderr_path = pathlib.Path(log_dir) / f"server-{id(self)}.stderr"
        self.events = []
        self._output_ended = False
        with open(self.stderr_path, "w") as stderr:
            self.process = subprocess.Popen(
                [binary("SQUANT_SERVER"), "--bind_address=127.0.0.1", "--port=0",
                 "--metrics_bind_address=127.0.0.1", "--metrics_port=0", *flags],
                stdout=subprocess.PIPE, stderr=stderr, text=True)
        self._new_event = threading.Condition()
        threading.Thread(target=self._read_events, daemon=True).start()
        listening = self.wait_for_event(lambda event: event.get("event") == "listening",
                                        STARTUP_SECONDS)
        if listening is None:
            self.stop()
            pytest.fail(f"squant-server did not report its port in {STARTUP_SECONDS} s; "
                        f"stderr: {self.stderr_path.read_text()[-2000:]}")
        self.address = f"127.0.0.1:{listening['port']}"

    def _read_events(self):
        for line in self.process.stdout:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            with self._new_event:
                self.events.append(event)
                self._new_event.notify_all()
        with self._new_event:
            self._output_ended = True
            self._new_event.notify_all()

    def wait_for_event(self, matches, timeout):
        """The first logged event for which matches(event) holds; None after
        `timeout` seconds, or as soon as the server's output has ended."""

        def first_match():
            return next((event for event in self.events if matches(event)), None)

        with self._new_event:
            self._new_event.wait_for(lambda: first_match() or self._output_ended, timeout)
            return first_match()

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def _shared_server(tmp_path_factory, *flags):
    process = ServerProcess(tmp_path_factory.mktemp("server"), *flags)
    yield process
    assert process.stop() == 0, process.stderr_path.read_text()[-2000:]


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """A plaintext server shared by the tests (a ServerProcess)."""
    yield from _shared_server(tmp_path_factory)


@pytest.fixture(scope="session")
def small_chunk_server(tmp_path_factory):
    """A server that sends each layer's values in many small chunks."""
    yield from _shared_server(tmp_path_factory, "--chunk_bytes=1000")


def _openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="session")
def certificates(tmp_path_factory):
    """PEM paths of a test CA, a server certificate for 127.0.0.1/localhost
    and a client certificate, all signed by the CA."""
    directory = tmp_path_factory.mktemp("certs")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
             "-subj", "/CN=squant test CA", "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=directory)
    for name, usage in (("server", "serverAuth"), ("client", "clientAuth")):
        (directory / f"{name}.ext").write_text(
            f"subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage={usage}\n")
        _openssl("req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr",
                 "-subj", f"/CN=squant test {name}", cwd=directory)
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                 "-CAcreateserial", "-days", "2", "-extfile", f"{name}.ext",
                 "-out", f"{name}.pem", cwd=directory)
    return {name: directory / name for name in
            ("ca.pem", "server.pem", "server.key", "client.pem", "client.key")}


@pytest.fixture
def server_factory(tmp_path):
    """Starts servers with extra flags; stops them after the test."""
    started = []

    def start(*flags):
        process = ServerProcess(tmp_path, *flags)
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()
