"""The same images through the Swift, Python and C clients: identical class ids and
bit-identical scores; and each client turns the server's errors into their status codes.
Also runs the C client's own tests (clients/c/tests/test_client.c) against live servers."""
import json
import os
import signal
import struct
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "clients", "python"))
sys.path.insert(0, os.path.join(ROOT, "clients", "python", "tests"))
from conftest import SERVER, image, start_server  # noqa: E402
from tnt_client import Client, RPCError, StatusCode  # noqa: E402

TNT = os.path.join(ROOT, ".build", "debug", "tnt")
C_DIR = os.path.join(ROOT, "clients", "c")
IMAGES = [image("pipeline/china.jpg"), image("pipeline/flower.jpg"), image("jpeg/grayscale.jpg"),
          image("jpeg/exif_orientation6.jpg"), os.path.join(ROOT, "..", "shared", "testdata", "pngsuite", "basn2c16.png")]


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    if not os.path.exists(SERVER) or not os.path.exists(TNT):
        pytest.skip("build tnt and tnt-server first (make test does)")
    subprocess.run(["make", "-s", "-C", C_DIR], check=True)
    normal, endpoint = start_server(tmp_path_factory.mktemp("normal"))
    slow, slow_endpoint = start_server(tmp_path_factory.mktemp("slow"), "--max-queue-delay-us", "2000000", "--max-batch", "64")
    yield endpoint, slow_endpoint
    for process in (normal, slow):
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0


def bits(values):
    """float32 bit patterns: equal bits, not merely close values."""
    return [struct.unpack("<I", struct.pack("<f", v))[0] for v in values]


def test_c_client_suite(servers):
    endpoint, slow = servers
    host, port = endpoint.rsplit(":", 1)
    result = subprocess.run([os.path.join(C_DIR, "build", "test_client"), host, port, slow.rsplit(":", 1)[1], IMAGES[0]],
                            capture_output=True, text=True)
    print(result.stdout, result.stderr)
    assert result.returncode == 0, result.stderr
    assert "1 passed, 0 failed" in result.stdout


def test_three_clients_agree_to_the_bit(servers):
    # One image per call, one call at a time: every client's image is computed alone (batch
    # of 1). Within a larger batch, rows can differ in the last bit with their position,
    # as OpenBLAS treats edge rows of a product differently (docs/ARCHITECTURE.md).
    endpoint, _ = servers
    swift = [json.loads(subprocess.run([TNT, "predict", "--server", endpoint, "--json", "--top-k", "5", path],
                                       capture_output=True, text=True, check=True).stdout)[0] for path in IMAGES]
    with Client(endpoint) as client:
        python = [client.predict(open(p, "rb").read(), top_k=5)[0] for p in IMAGES]
    c = [json.loads(subprocess.run([os.path.join(C_DIR, "build", "predict"), endpoint, "--top-k", "5", path],
                                   capture_output=True, text=True, check=True).stdout)[0] for path in IMAGES]
    assert len(swift) == len(python) == len(c) == len(IMAGES)
    for s, p, k in zip(swift, python, c):
        assert s["class_ids"] == list(p.class_ids) == k["class_ids"]
        assert bits(s["scores"]) == bits(p.scores) == bits(k["scores"])
        assert s["label_names"] == list(p.label_names) == k["label_names"]


@pytest.mark.parametrize("case", ["bad image", "unknown model", "expired deadline"])
def test_every_client_reports_the_status(servers, case, tmp_path):
    endpoint, slow = servers
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    target, model, path, timeout, code = {
        "bad image": (endpoint, "", str(bad), 10, StatusCode.INVALID_ARGUMENT),
        "unknown model": (endpoint, "nope", IMAGES[0], 10, StatusCode.NOT_FOUND),
        "expired deadline": (slow, "", IMAGES[0], 0.1, StatusCode.DEADLINE_EXCEEDED),
    }[case]
    name = StatusCode.name(code)
    # Swift
    swift = subprocess.run([TNT, "predict", "--server", target, "--model", model, "--timeout", str(timeout), path],
                           capture_output=True, text=True)
    assert swift.returncode != 0 and name in swift.stderr, swift.stderr
    # Python
    with Client(target) as client:
        with pytest.raises(RPCError) as raised:
            client.predict(open(path, "rb").read(), model=model, timeout=timeout)
        assert raised.value.code == code
    # C
    c = subprocess.run([os.path.join(C_DIR, "build", "predict"), target, "--model", model, "--timeout-ms", str(int(timeout * 1000)), path],
                       capture_output=True, text=True)
    assert c.returncode != 0 and f"error {code}:" in c.stderr, c.stderr
