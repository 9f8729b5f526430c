"""tnt_client against a live tnt-server."""
import json
import subprocess
import sys

import pytest
from conftest import ROOT, image

from tnt_client import Client, RPCError, StatusCode


def test_predict_models_health(server):
    with Client(server, timeout=10) as client:
        assert client.health() == "SERVING"
        assert client.health("tiny") == "SERVING"
        assert [m.name for m in client.models()] == ["tiny"]
        assert client.model("tiny").classes == 10
        results = client.predict([open(image("pipeline/china.jpg"), "rb").read(), open(image("jpeg/grayscale.jpg"), "rb").read()], top_k=3)
        assert len(results) == 2
        for result in results:
            assert len(result.class_ids) == 3
            assert list(result.scores) == sorted(result.scores, reverse=True)
            assert list(result.label_names) == [f"digit {i}" for i in result.class_ids]
        tensor = client.predict_tensor([0.1] * (3 * 64 * 64), [3, 64, 64])
        assert len(tensor.class_ids) == 5


@pytest.mark.parametrize("call, code", [
    (lambda c: c.predict(b"not an image"), StatusCode.INVALID_ARGUMENT),
    (lambda c: c.predict(b"x", model="nope"), StatusCode.NOT_FOUND),
    (lambda c: c.model("nope"), StatusCode.NOT_FOUND),
    (lambda c: c.health("nope"), StatusCode.NOT_FOUND),
    (lambda c: c.predict([]), StatusCode.INVALID_ARGUMENT),
    (lambda c: c.call("/tnt.v1.Nope/Nope", c_empty(), c_empty_type()), StatusCode.UNIMPLEMENTED),
])
def test_server_errors_become_status_codes(server, call, code):
    with Client(server, timeout=10) as client:
        with pytest.raises(RPCError) as raised:
            call(client)
        assert raised.value.code == code
        assert client.health() == "SERVING"  # the connection still works


def c_empty():
    from tnt_client.proto import health_pb2
    return health_pb2.HealthCheckRequest()


def c_empty_type():
    from tnt_client.proto import health_pb2
    return health_pb2.HealthCheckResponse


def test_expired_deadline(tmp_path):
    from conftest import start_server
    import signal
    process, endpoint = start_server(tmp_path, "--max-queue-delay-us", "2000000", "--max-batch", "64")
    try:
        with Client(endpoint, timeout=10) as client:
            with pytest.raises(RPCError) as raised:
                client.predict(open(image("pipeline/china.jpg"), "rb").read(), timeout=0.1)
            assert raised.value.code == StatusCode.DEADLINE_EXCEEDED
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0


def test_unreachable_server_is_unavailable():
    with pytest.raises(RPCError) as raised:
        Client("127.0.0.1:1", timeout=2)
    assert raised.value.code == StatusCode.UNAVAILABLE


def test_command_line_matches_tnt(server):
    files = [image("pipeline/china.jpg"), image("pipeline/flower.jpg")]
    python = subprocess.run([sys.executable, "-m", "tnt_client", "predict", "--server", server, "--json", "--top-k", "3", *files],
                            capture_output=True, text=True, check=True, cwd=ROOT + "/clients/python")
    swift = subprocess.run([ROOT + "/.build/debug/tnt", "predict", "--server", server, "--json", "--top-k", "3", *files],
                           capture_output=True, text=True, check=True)
    assert json.loads(python.stdout) == json.loads(swift.stdout)
    assert python.stdout == swift.stdout
    health = subprocess.run([sys.executable, "-m", "tnt_client", "health", "--server", server], capture_output=True, text=True,
                            cwd=ROOT + "/clients/python")
    assert health.returncode == 0 and health.stdout.strip() == "SERVING"
