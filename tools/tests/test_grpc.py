"""The standard gRPC port (`--grpc-port`) of a real tnt-server, called with nothing of ours on
the client side: grpcio, stubs that grpc_tools.protoc generates from proto/ here, and
grpcio-health-checking. Every method; the same answers (to the bit) and the same statuses and
messages as the native port; deadlines, cancels, limits, tokens, TLS, metrics, the drain."""
import glob
import hashlib
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time

import grpc
import h2.config
import h2.connection
import h2.events
import pytest
from grpc_health.v1 import health_pb2 as std_health_pb2
from grpc_health.v1 import health_pb2_grpc as std_health_grpc

pytest.register_assert_rewrite("rawwire")
from certs import Authority  # noqa: E402
from rawwire import ROOT, image, start_server, stop, wait_for  # noqa: E402

from tnt_client import Client, RPCError  # noqa: E402

TNT = os.path.join(ROOT, ".build", "debug", "tnt")
IMAGES = [image("pipeline/china.jpg"), image("pipeline/flower.jpg"), image("jpeg/grayscale.jpg")]


@pytest.fixture(scope="module")
def pb(tmp_path_factory):
    """The generated modules, as any gRPC user would make them from proto/."""
    out = tmp_path_factory.mktemp("stubs")
    protos = sorted(glob.glob(os.path.join(ROOT, "proto", "tnt", "v1", "*.proto")))
    subprocess.run([sys.executable, "-m", "grpc_tools.protoc", "-I", os.path.join(ROOT, "proto"),
                    f"--python_out={out}", f"--grpc_python_out={out}", *protos], check=True)
    sys.path.insert(0, str(out))
    from tnt.v1 import classifier_pb2, classifier_pb2_grpc, health_pb2, health_pb2_grpc, models_pb2, models_pb2_grpc

    class Generated:
        pass
    g = Generated()
    for module in (classifier_pb2, classifier_pb2_grpc, health_pb2, health_pb2_grpc, models_pb2, models_pb2_grpc):
        setattr(g, module.__name__.rsplit(".", 1)[1], module)
    return g


def serve(tmp_path, *args, **kwargs):
    process, endpoint = start_server(tmp_path, "--grpc-port", "0", "--admin-port", "0", *args, **kwargs)
    assert process.grpc, "tnt-server did not announce its gRPC port"
    return process, endpoint


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    process, endpoint = serve(tmp_path_factory.mktemp("repo"))
    yield process, endpoint
    stop(process)


@pytest.fixture(scope="module")
def slow(tmp_path_factory):
    """Batches wait 1.5 s for company: calls stay queued long enough to expire or be cancelled."""
    process, endpoint = serve(tmp_path_factory.mktemp("slow"), "--max-queue-delay-us", "1500000", "--max-batch", "64", "--queue-size", "3")
    yield process, endpoint
    stop(process)


def stubs(pb, address, credentials=None):
    channel = grpc.secure_channel(address, credentials) if credentials else grpc.insecure_channel(address)
    return channel, pb.classifier_pb2_grpc.ClassifierStub(channel), pb.models_pb2_grpc.ModelsStub(channel)


def predict_request(pb, paths=(), data=None, **fields):
    request = pb.classifier_pb2.PredictRequest(**fields)
    for path in paths:
        request.inputs.add(encoded_image=open(path, "rb").read())
    if data is not None:
        request.inputs.add(encoded_image=data)
    return request


def bits(values):
    return [struct.unpack("<I", struct.pack("<f", v))[0] for v in values]


def grpc_error(call, *args, **kwargs):
    with pytest.raises(grpc.RpcError) as caught:
        call(*args, **kwargs)
    return caught.value.code().value[0], caught.value.details()


def native_error(call, *args, **kwargs):
    with pytest.raises(RPCError) as caught:
        call(*args, **kwargs)
    return caught.value.code, caught.value.message


def metric(admin, name, **labels):
    import urllib.request
    from prometheus_client.parser import text_string_to_metric_families
    text = urllib.request.urlopen(f"http://{admin}/metrics", timeout=5).read().decode()
    return sum(s.value for f in text_string_to_metric_families(text) for s in f.samples
               if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))


def test_every_method_answers_as_the_native_port_to_the_bit(server, pb):
    process, endpoint = server
    channel, classifier, models = stubs(pb, process.grpc)
    health = pb.health_pb2_grpc.HealthStub(channel)
    standard = std_health_grpc.HealthStub(channel)
    assert health.Check(pb.health_pb2.HealthCheckRequest()).status == pb.health_pb2.HealthCheckResponse.SERVING
    assert standard.Check(std_health_pb2.HealthCheckRequest()).status == std_health_pb2.HealthCheckResponse.SERVING
    assert standard.Check(std_health_pb2.HealthCheckRequest(service="tiny")).status == std_health_pb2.HealthCheckResponse.SERVING
    assert [m.name for m in models.List(pb.models_pb2.ListModelsRequest()).models] == ["tiny"]
    info = models.Get(pb.models_pb2.GetModelRequest(name="tiny"))
    with Client(endpoint) as native:
        assert info.SerializeToString() == native.model("tiny").SerializeToString()
        for path in IMAGES:
            # One image per call, one call at a time, so that each is computed alone (batch of 1).
            over_grpc = classifier.Predict(predict_request(pb, [path], top_k=5, return_logits=True, return_features=True,
                                                           return_probabilities=True), timeout=30).results[0]
            over_native = native.predict(open(path, "rb").read(), top_k=5, logits=True, features=True, probabilities=True)[0]
            cli = json.loads(subprocess.run([TNT, "predict", "--server", endpoint, "--json", "--top-k", "5", path],
                                            capture_output=True, text=True, check=True).stdout)[0]
            assert list(over_grpc.class_ids) == list(over_native.class_ids) == cli["class_ids"]
            assert bits(over_grpc.scores) == bits(over_native.scores) == bits(cli["scores"])
            assert list(over_grpc.label_names) == list(over_native.label_names) == cli["label_names"]
            for field in ("logits", "features", "probabilities"):
                assert bits(getattr(over_grpc, field)) == bits(getattr(over_native, field)) and getattr(over_grpc, field)
    channel.close()


def test_errors_have_the_native_status_and_message(server, pb):
    process, endpoint = server
    channel, classifier, models = stubs(pb, process.grpc)
    png = open(IMAGES[1], "rb").read()
    with Client(endpoint) as native:
        cases = [
            (lambda: classifier.Predict(predict_request(pb, data=png, model="nope")), lambda: native.predict(png, model="nope"), 5),
            (lambda: classifier.Predict(predict_request(pb, data=b"not an image at all")), lambda: native.predict(b"not an image at all"), 3),
            (lambda: classifier.Predict(predict_request(pb)), lambda: native.predict([]), 3),
            (lambda: models.Get(pb.models_pb2.GetModelRequest(name="nope")), lambda: native.model("nope"), 5),
        ]
        for over_grpc, over_native, code in cases:
            assert grpc_error(over_grpc) == native_error(over_native)
            assert grpc_error(over_grpc)[0] == code
        # Bytes that are not a PredictRequest, and a method nobody serves.
        garbage = channel.unary_unary("/tnt.v1.Classifier/Predict")
        code, message = grpc_error(garbage, b"\xff\xff\xff")
        assert code == 3 and "PredictRequest" in message

        class Raw:
            def SerializeToString(self):
                return b"\xff\xff\xff"
        assert native_error(native.call, "/tnt.v1.Classifier/Predict", Raw(), None, None) == (code, message)
        assert grpc_error(channel.unary_unary("/tnt.v1.Nope/Do"), b"")[0] == 12
        assert native_error(native.call, "/tnt.v1.Nope/Do", Raw(), None, None)[0] == 12
    # Nothing was lost: the same channel still classifies.
    assert classifier.Predict(predict_request(pb, [IMAGES[0]])).results[0].class_ids
    channel.close()


def test_oversized_messages_are_refused_like_oversized_frames(tmp_path, pb):
    process, endpoint = serve(tmp_path, "--max-frame-bytes", "100000")
    try:
        big = os.urandom(150_000)
        channel, classifier, _ = stubs(pb, process.grpc)
        assert grpc_error(lambda: classifier.Predict(predict_request(pb, data=big)))[0] == 8
        with Client(endpoint) as native:
            assert native_error(native.predict, big)[0] == 8
        # The same channel (connection) goes on working.
        assert classifier.Predict(predict_request(pb, [IMAGES[2]])).results[0].class_ids
        channel.close()
    finally:
        stop(process)


def test_deadlines_and_cancels_drop_queued_inputs(slow, pb):
    process, endpoint = slow
    channel, classifier, _ = stubs(pb, process.grpc)
    computed = metric(process.admin, "tnt_inputs_computed_total", model="tiny")
    request = predict_request(pb, [IMAGES[0]])
    # grpcio ends the call at its deadline itself ("Deadline Exceeded"); the server drops it too.
    assert grpc_error(lambda: classifier.Predict(request, timeout=0.3))[0] == 4
    with Client(endpoint) as native:
        assert native_error(native.predict, open(IMAGES[0], "rb").read(), timeout=0.3) == (4, "deadline exceeded")
    cancelled = classifier.Predict.future(request)
    time.sleep(0.3)
    assert cancelled.cancel()
    time.sleep(2.5)  # past the batching delay: a batch would have formed and run by now
    assert metric(process.admin, "tnt_inputs_computed_total", model="tiny") == computed
    # grpcio resets the stream at its deadline, perhaps before the server's own timer fires (a
    # slow server received the call later): that call is counted either way.
    grpc_calls = lambda code: metric(process.admin, "tnt_rpc_calls_total", method="/tnt.v1.Classifier/Predict", protocol="grpc", code=code)
    assert grpc_calls("CANCELLED") + grpc_calls("DEADLINE_EXCEEDED") == 2 and grpc_calls("CANCELLED") >= 1
    assert metric(process.admin, "tnt_rpc_calls_total", method="/tnt.v1.Classifier/Predict", protocol="native", code="DEADLINE_EXCEEDED") == 1
    channel.close()


def test_a_full_queue_is_unavailable_on_both_ports(slow, pb):
    process, endpoint = slow
    channel, classifier, _ = stubs(pb, process.grpc)
    filling = classifier.Predict.future(predict_request(pb, [IMAGES[0]] * 3))
    time.sleep(0.3)
    over_grpc = grpc_error(lambda: classifier.Predict(predict_request(pb, [IMAGES[0]])))
    with Client(endpoint, max_attempts=1) as native:
        code, message = native_error(native.predict, open(IMAGES[0], "rb").read())
    # The Python client says what it tried around the server's words.
    assert code == over_grpc[0] and over_grpc[1] in message
    assert over_grpc[0] == 14 and "queue holds 3 of 3 inputs" in over_grpc[1]
    assert len(filling.result(timeout=30).results) == 3
    channel.close()


def test_tokens_travel_in_grpc_metadata(tmp_path, pb):
    tokens = tmp_path / "tokens"
    tokens.write_text(f"{hashlib.sha256(b'alice-secret').hexdigest()} alice tiny\n")
    process, endpoint = serve(tmp_path / "repo", "--auth-tokens", str(tokens))
    try:
        channel, classifier, models = stubs(pb, process.grpc)
        request = predict_request(pb, [IMAGES[0]])
        refused = grpc_error(lambda: classifier.Predict(request))
        with Client(endpoint) as native:
            assert refused == native_error(native.predict, open(IMAGES[0], "rb").read())
        assert refused[0] == 16
        assert grpc_error(lambda: classifier.Predict(request, metadata=[("authorization", "Bearer wrong")]))[0] == 16
        assert classifier.Predict(request, metadata=[("authorization", "Bearer alice-secret")]).results[0].class_ids
        # Probes need no token.
        assert std_health_grpc.HealthStub(channel).Check(std_health_pb2.HealthCheckRequest()).status == 1
        channel.close()
    finally:
        stop(process)


def test_tls_with_the_native_ports_certificate(tmp_path, pb):
    ca = Authority(tmp_path)
    cert, key = ca.issue("server")
    client_cert, client_key = ca.issue("client", names=("alice",), client=True)
    process, _ = serve(tmp_path / "repo", "--tls-cert", str(cert), "--tls-key", str(key), "--tls-client-ca", str(ca.path))
    try:
        trust = open(ca.path, "rb").read()
        with_cert = grpc.ssl_channel_credentials(trust, open(client_key, "rb").read(), open(client_cert, "rb").read())
        channel, classifier, _ = stubs(pb, process.grpc, with_cert)
        assert classifier.Predict(predict_request(pb, [IMAGES[0]]), timeout=30).results[0].class_ids
        channel.close()
        # No client certificate, or no TLS at all: no call gets through.
        for credentials in (grpc.ssl_channel_credentials(trust), None):
            channel, classifier, _ = stubs(pb, process.grpc, credentials)
            assert grpc_error(lambda: classifier.Predict(predict_request(pb, [IMAGES[0]]), timeout=5))[0] == 14
            channel.close()
    finally:
        stop(process)


def test_sigterm_drains_answers_every_call_and_tells_health_watchers(tmp_path, pb):
    process, endpoint = serve(tmp_path, "--max-queue-delay-us", "1500000", "--max-batch", "64", "--shutdown-grace", "20")
    channel, classifier, _ = stubs(pb, process.grpc)
    standard = std_health_grpc.HealthStub(channel)
    watch = standard.Watch(std_health_pb2.HealthCheckRequest())
    seen = [next(watch).status]
    in_flight = [classifier.Predict.future(predict_request(pb, [IMAGES[0]])) for _ in range(3)]
    time.sleep(0.3)
    process.send_signal(signal.SIGTERM)
    seen += [update.status for update in watch]  # the stream ends after NOT_SERVING
    assert seen == [std_health_pb2.HealthCheckResponse.SERVING, std_health_pb2.HealthCheckResponse.NOT_SERVING]
    # Until the calls in flight are answered, the port stays open for probes and refuses work.
    assert standard.Check(std_health_pb2.HealthCheckRequest()).status == std_health_pb2.HealthCheckResponse.NOT_SERVING
    assert grpc_error(lambda: classifier.Predict(predict_request(pb, [IMAGES[0]]))) == (14, "server is shutting down; call not processed")
    for call in in_flight:
        assert call.result(timeout=30).results[0].class_ids
    assert process.wait(timeout=30) == 0
    channel.close()


def h2_predict_streams(address, streams):
    """A raw HTTP/2 connection (the `h2` package) with `streams` Predict calls opened: their
    headers sent, no message yet. Returns the socket, the connection and the stream ids."""
    host, port = address.rsplit(":", 1)
    sock = socket.create_connection((host, int(port)))
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    ids = []
    for _ in range(streams):
        sid = conn.get_next_available_stream_id()
        conn.send_headers(sid, [(":method", "POST"), (":scheme", "http"), (":path", "/tnt.v1.Classifier/Predict"),
                                (":authority", address), ("content-type", "application/grpc"), ("te", "trailers")])
        ids.append(sid)
    sock.sendall(conn.data_to_send())
    return sock, conn, ids


def still_classifies(pb, address):
    """Nothing else was lost: a new channel's Predict is answered."""
    channel, classifier, _ = stubs(pb, address)
    result = classifier.Predict(predict_request(pb, [IMAGES[2]]), timeout=10).results[0]
    channel.close()
    return len(result.class_ids) > 0


def h2_flood(address, streams, declared, seconds):
    """Opens `streams` gRPC Predict streams that each declare a `declared`-byte message and
    sends as much of it as the server's flow control lets through in `seconds`; returns the bytes
    sent and the socket, still open."""
    sock, conn, ids = h2_predict_streams(address, streams)
    remaining = {sid: 5 + declared for sid in ids}
    started = {sid: False for sid in ids}
    sent = 0
    end = time.time() + seconds
    sock.settimeout(0.05)
    while time.time() < end:
        for sid in ids:
            room = min(conn.local_flow_control_window(sid), conn.max_outbound_frame_size, remaining[sid] - 1)
            header = b"" if started[sid] else struct.pack(">BI", 0, declared)
            if room > len(header):
                started[sid] = True
                chunk = header + b"\0" * (room - len(header))
                conn.send_data(sid, chunk)
                remaining[sid] -= len(chunk)
                sent += len(chunk)
        sock.sendall(conn.data_to_send())
        try:
            data = sock.recv(65536)
            if not data:
                break
            conn.receive_data(data)
        except socket.timeout:
            pass
        sock.sendall(conn.data_to_send())
    return sent, sock


def test_a_client_cannot_make_the_server_hold_more_than_its_budget(tmp_path, pb):
    # 16 streams each declaring a 3 MB message, none ever finished: 48 MB if the server took it all.
    process, _ = serve(tmp_path, "--max-connection-buffer-bytes", str(2 << 20))
    try:
        sent, flooding = h2_flood(process.grpc, 16, 3_000_000, 4)
        # The budget, plus what the streams' HTTP/2 windows (64 KiB each) let through before it filled.
        assert sent <= (2 << 20) + 16 * 65535 + 65535
        assert metric(process.admin, "tnt_buffered_bytes") >= 2 << 20
        assert still_classifies(pb, process.grpc)
        flooding.close()
        assert wait_for(lambda: metric(process.admin, "tnt_buffered_bytes") == 0)
    finally:
        stop(process)


def test_a_request_that_arrives_too_slowly_is_reset(tmp_path, pb):
    process, _ = serve(tmp_path, "--frame-timeout", "1")
    try:
        sock, conn, _ = h2_predict_streams(process.grpc, 1)
        conn.send_data(1, struct.pack(">BI", 0, 1000) + b"\0" * 10)  # 10 of 1,000 bytes, then nothing
        sock.sendall(conn.data_to_send())
        started, reset = time.time(), None
        sock.settimeout(5)
        while reset is None and time.time() - started < 5:
            for event in conn.receive_data(sock.recv(65536)):
                if isinstance(event, (h2.events.StreamReset, h2.events.StreamEnded)):
                    reset = time.time() - started
            sock.sendall(conn.data_to_send())
        assert reset is not None and 0.9 <= reset < 3
        sock.close()
        assert still_classifies(pb, process.grpc)
    finally:
        stop(process)


def test_idle_connections_are_closed_but_not_those_with_a_stream_open(tmp_path, pb):
    process, _ = serve(tmp_path, "--idle-timeout", "1")
    try:
        # Each channel its own connection (grpcio shares one per target by default).
        own = [("grpc.use_local_subchannel_pool", 1)]
        idle = grpc.insecure_channel(process.grpc, options=own)
        models = pb.models_pb2_grpc.ModelsStub(idle)
        models.List(pb.models_pb2.ListModelsRequest())
        watching = grpc.insecure_channel(process.grpc, options=own)
        watch = std_health_grpc.HealthStub(watching).Watch(std_health_pb2.HealthCheckRequest())
        assert next(watch).status == std_health_pb2.HealthCheckResponse.SERVING
        assert metric(process.admin, "tnt_connections") == 2
        # The idle one goes after a second; the one whose Watch stream is open stays.
        assert wait_for(lambda: metric(process.admin, "tnt_connections") == 1, timeout=5)
        time.sleep(1.5)
        assert metric(process.admin, "tnt_connections") == 1
        # A closed idle connection costs its client nothing but a reconnect.
        assert models.List(pb.models_pb2.ListModelsRequest()).models
        watch.cancel()
        idle.close()
        watching.close()
    finally:
        stop(process)


def test_metrics_count_each_protocol(server, pb):
    process, endpoint = server
    before = metric(process.admin, "tnt_rpc_calls_total", method="/tnt.v1.Models/List", protocol="grpc", code="OK")
    channel, _, models = stubs(pb, process.grpc)
    for _ in range(3):
        models.List(pb.models_pb2.ListModelsRequest())
    assert metric(process.admin, "tnt_rpc_calls_total", method="/tnt.v1.Models/List", protocol="grpc", code="OK") == before + 3
    assert metric(process.admin, "tnt_connections") >= 1
    channel.close()
