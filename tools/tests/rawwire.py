"""Raw TNTServe wire access for the hardening tests: frames built and read by hand (so that a
test can send what no well-behaved client would), and the server process's memory and
descriptors read from /proc."""
import contextlib
import os
import signal
import socket
import struct
import sys
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "clients", "python"))
sys.path.insert(0, os.path.join(ROOT, "clients", "python", "tests"))
from conftest import SERVER, image, start_server  # noqa: E402,F401
from tnt_client.proto import classifier_pb2, health_pb2, rpc_pb2  # noqa: E402

PREFACE = b"TNTRPC\x01\x00"
HEADER = struct.Struct(">IBBHI")
REQUEST, RESPONSE, CANCEL, PING, PONG, GOAWAY = 1, 2, 3, 4, 5, 6
PREDICT, HEALTH = "/tnt.v1.Classifier/Predict", "/tnt.v1.Health/Check"
MiB = 1 << 20


@contextlib.contextmanager
def serving(tmp_path, *args, **popen):
    """A tnt-server with `args` over a repository in `tmp_path` holding `tiny`, stopped at the
    end; `.repo` and `.log` (its log file) on the process."""
    process, endpoint = start_server(tmp_path, *args, log=tmp_path / "server.log", **popen)
    process.repo, process.log = tmp_path, tmp_path / "server.log"
    try:
        yield process, endpoint
    finally:
        stop(process)


@pytest.fixture(name="server")
def fresh_server(tmp_path, request):
    """A tnt-server of its own per test, flags from indirect parametrization."""
    with serving(tmp_path, *getattr(request, "param", ())) as running:
        yield running


def frame(kind, stream, payload=b""):
    return HEADER.pack(len(payload), kind, 0, 0, stream) + payload


def request(stream, method, message=b"", timeout_us=0):
    payload = message if isinstance(message, bytes) else message.SerializeToString()
    return frame(REQUEST, stream, rpc_pb2.RequestEnvelope(method=method, payload=payload, timeout_us=timeout_us).SerializeToString())


def predict_request(stream, images, model="tiny", timeout_us=0):
    message = classifier_pb2.PredictRequest(model=model)
    for data in images:
        message.inputs.add(encoded_image=data)
    return request(stream, PREDICT, message, timeout_us)


class Wire:
    """One raw connection: preface exchanged, frames sent as bytes, frames read one by one."""

    def __init__(self, endpoint, timeout=10, preface=True):
        host, _, port = endpoint.rpartition(":")
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        if preface:
            self.sock.sendall(PREFACE)
            assert self.read_exact(8) == PREFACE

    def send(self, data):
        self.sock.sendall(data)

    def read_exact(self, n):
        data = bytearray()
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise EOFError(f"closed after {len(data)} of {n} bytes")
            data += chunk
        return bytes(data)

    def read_frame(self):
        length, kind, _flags, _reserved, stream = HEADER.unpack(self.read_exact(HEADER.size))
        return kind, stream, self.read_exact(length)

    def responses(self, count):
        """The next `count` RESPONSE envelopes by stream id (other frames skipped)."""
        got = {}
        while len(got) < count:
            kind, stream, body = self.read_frame()
            if kind == RESPONSE:
                got[stream] = rpc_pb2.ResponseEnvelope.FromString(body)
        return got

    def response(self):
        return next(iter(self.responses(1).values()))

    def goaway(self):
        while True:
            kind, _stream, body = self.read_frame()
            if kind == GOAWAY:
                return rpc_pb2.GoAway.FromString(body)

    def closed_by_server(self, within=10):
        """True when the server closes the connection within `within` seconds."""
        self.sock.settimeout(within)
        try:
            while self.sock.recv(65536):
                pass
            return True
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False

    def close(self):
        self.sock.close()


def flood(sock, chunk, seconds):
    """Sends `chunk` (bytes, or a function of a counter giving the next bytes) over and over
    for `seconds`, never splitting the byte stream, however slowly the server reads; returns
    the bytes sent (less when the server stopped reading or closed the connection)."""
    import itertools
    import select
    counter = itertools.count(1)
    next_chunk = chunk if callable(chunk) else (lambda _: chunk)
    sock.setblocking(False)
    sent, pending, end = 0, memoryview(next_chunk(next(counter))), time.time() + seconds
    try:
        while time.time() < end:
            _, writable, _ = select.select([], [sock], [], 0.2)
            if not writable:
                continue
            n = sock.send(pending)
            sent += n
            pending = pending[n:] if n < len(pending) else memoryview(next_chunk(next(counter)))
    except (BrokenPipeError, ConnectionResetError):
        pass
    finally:
        sock.setblocking(True)
    return sent


def png(width, height, mode="RGB", seed=None):
    """A PNG of one colour, or of random RGB pixels when `seed` is given."""
    import io
    import numpy as np
    from PIL import Image
    picture = (Image.new(mode, (width, height)) if seed is None else
               Image.fromarray(np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)))
    out = io.BytesIO()
    picture.save(out, "PNG")
    return out.getvalue()


def warm(endpoint, data):
    """Eight calls one after the other, so that what a test measures is not first-call setup."""
    wire = Wire(endpoint)
    for stream in range(1, 9):
        wire.send(predict_request(stream, [data]))
        assert wire.response().status == 0
    wire.close()


def proc_status(pid, field):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(field)


def reset_peak(pid):
    """Restarts the kernel's peak-RSS count (VmHWM) from the current RSS."""
    with open(f"/proc/{pid}/clear_refs", "w") as f:
        f.write("5")


def rss(pid):
    return proc_status(pid, "VmRSS")


def peak_rss(pid):
    return proc_status(pid, "VmHWM")


def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def healthy(endpoint):
    wire = Wire(endpoint)
    wire.send(request(1, HEALTH, health_pb2.HealthCheckRequest()))
    ok = wire.response().status == 0
    wire.close()
    return ok


def stop(process):
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)


def wait_for(condition, timeout=10, step=0.05):
    end = time.time() + timeout
    while time.time() < end:
        if condition():
            return True
        time.sleep(step)
    return condition()
