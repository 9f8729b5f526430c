"""The wire format against Python's protobuf runtime: a tnt-server process is called with
messages serialised by Python's generated classes (grpcio-tools' protoc), and its protobuf-c
answers are parsed by them, and re-serialise to the very same bytes."""
import glob
import os
import signal
import socket
import struct
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "clients", "python", "tests"))
from conftest import SERVER, start_server  # noqa: E402
PREFACE = b"TNTRPC\x01\x00"
REQUEST, RESPONSE, CANCEL, PING, PONG, GOAWAY = 1, 2, 3, 4, 5, 6


@pytest.fixture(scope="module")
def pb(tmp_path_factory):
    from grpc_tools import protoc
    out = tmp_path_factory.mktemp("pb")
    protos = sorted(glob.glob(os.path.join(ROOT, "proto", "tnt", "v1", "*.proto")))
    assert protoc.main(["protoc", f"-I{os.path.join(ROOT, 'proto')}", f"--python_out={out}", *protos]) == 0
    sys.path.insert(0, str(out))
    from tnt.v1 import classifier_pb2, health_pb2, models_pb2, rpc_pb2
    return type("pb", (), dict(rpc=rpc_pb2, classifier=classifier_pb2, health=health_pb2, models=models_pb2))


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if not os.path.exists(SERVER):
        pytest.skip("build tnt-server first (make test does)")
    process, endpoint = start_server(tmp_path_factory.mktemp("models"))
    yield int(endpoint.rsplit(":", 1)[1])
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0


class Wire:
    """Frames by hand, from docs/PROTOCOL.md."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.sendall(PREFACE)
        assert self.read(8) == PREFACE

    def read(self, n):
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            assert chunk, "connection closed"
            data += chunk
        return data

    def send(self, kind, stream, payload=b""):
        self.sock.sendall(struct.pack(">IBBHI", len(payload), kind, 0, 0, stream) + payload)

    def receive(self):
        length, kind, flags, _, stream = struct.unpack(">IBBHI", self.read(12))
        return kind, stream, self.read(length)


def call(wire, pb, stream, method, message):
    envelope = pb.rpc.RequestEnvelope(method=method, timeout_us=5_000_000, payload=message.SerializeToString())
    envelope.metadata.add(key="x-test", value="python")
    wire.send(REQUEST, stream, envelope.SerializeToString())
    kind, got_stream, payload = wire.receive()
    assert (kind, got_stream) == (RESPONSE, stream)
    response = pb.rpc.ResponseEnvelope.FromString(payload)
    # protobuf-c's bytes are what Python's deterministic serialisation writes.
    assert response.SerializeToString(deterministic=True) == payload
    return response


def test_health_models_and_predict_with_python_messages(pb, server):
    wire = Wire(server)
    health = call(wire, pb, 1, "/tnt.v1.Health/Check", pb.health.HealthCheckRequest(service=""))
    assert health.status == 0
    assert pb.health.HealthCheckResponse.FromString(health.payload).status == pb.health.HealthCheckResponse.SERVING

    listed = call(wire, pb, 2, "/tnt.v1.Models/List", pb.models.ListModelsRequest())
    models = pb.models.ListModelsResponse.FromString(listed.payload).models
    assert [m.name for m in models] == ["tiny"] and models[0].state == pb.models.ModelInfo.STATE_READY
    assert models[0].has_labels
    assert list(models[0].input_shape) == [3, 64, 64]

    image = open(os.path.join(ROOT, "Tests", "TNTImageTests", "Fixtures", "pipeline", "china.jpg"), "rb").read()
    request = pb.classifier.PredictRequest(model="tiny", top_k=3, return_logits=True)
    request.inputs.add(encoded_image=image)
    request.inputs.add().tensor.CopyFrom(pb.classifier.Tensor(shape=[3, 64, 64], data=[0.25] * (3 * 64 * 64)))
    answer = call(wire, pb, 3, "/tnt.v1.Classifier/Predict", request)
    assert answer.status == 0, answer.message
    predicted = pb.classifier.PredictResponse.FromString(answer.payload)
    assert predicted.SerializeToString(deterministic=True) == answer.payload
    assert len(predicted.results) == 2
    for result in predicted.results:
        assert len(result.class_ids) == 3 and len(result.logits) == 10
        assert list(result.scores) == sorted(result.scores, reverse=True)
        assert result.timings.batch_size >= 1

    unknown = call(wire, pb, 4, "/tnt.v1.Nope/Nope", pb.health.HealthCheckRequest())
    assert unknown.status == 12 and "not implemented" in unknown.message

    wire.send(PING, 0, b"12345678")
    assert wire.receive() == (PONG, 0, b"12345678")


def test_goaway_for_an_oversized_frame(pb, server):
    wire = Wire(server)
    wire.sock.sendall(struct.pack(">IBBHI", 1 << 30, REQUEST, 0, 0, 1))
    kind, stream, payload = wire.receive()
    assert (kind, stream) == (GOAWAY, 0)
    goaway = pb.rpc.GoAway.FromString(payload)
    assert goaway.status == 8 and "above the maximum" in goaway.message
    assert wire.sock.recv(1) == b""
