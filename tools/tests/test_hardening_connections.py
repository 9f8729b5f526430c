"""Hostile and careless peers against a real tnt-server (issue "Hardening", findings 1, 3, 4,
7, 9): no connection can crash the server, hold its memory or lock other clients out, and
every REQUEST read gets its RESPONSE."""
import os
import resource
import socket
import threading
import time
import urllib.request

import pytest

pytest.register_assert_rewrite("rawwire")
from rawwire import flood as send_flood
from rawwire import (GOAWAY, HEALTH, MiB, PING, PREFACE, REQUEST, SERVER, Wire, frame, health_pb2, healthy, image,
                     open_fds, peak_rss, predict_request, request, reset_peak, rss, serving, wait_for, warm)

pytest_plugins = ["rawwire"]  # the `server` fixture
pytestmark = pytest.mark.skipif(not os.path.exists(SERVER), reason="build tnt-server first (make test does)")
PHOTO = open(image("pipeline/china.jpg"), "rb").read()


# Finding 1: a timeout_us near 2^64 overflowed the deadline arithmetic and killed the server.
def test_huge_timeouts_are_no_deadline_not_a_crash(server):
    process, endpoint = server
    wire = Wire(endpoint)
    for stream, timeout in enumerate([2**64 - 1, 2**63, 18_500_000_000_000_000, 10**12 + 1], start=1):
        wire.send(request(stream, HEALTH, health_pb2.HealthCheckRequest(), timeout_us=timeout))
        assert wire.response().status == 0
    wire.send(predict_request(10, [PHOTO], timeout_us=2**64 - 1))
    assert wire.response().status == 0
    assert process.poll() is None


# Finding 3: a peer that never reads made the server buffer answers without bound.
@pytest.mark.parametrize("flood", ["pings", "errors"])
def test_a_peer_that_does_not_read_costs_bounded_memory(server, flood):
    """A flood of PINGs, or of calls answered with errors, from a peer that reads nothing."""
    process, endpoint = server
    warm(endpoint, PHOTO)
    time.sleep(0.5)
    reset_peak(process.pid)
    before = rss(process.pid)
    host, port = endpoint.rsplit(":", 1)
    sock = socket.create_connection((host, int(port)))
    sock.sendall(PREFACE)
    if flood == "pings":
        sent = send_flood(sock, frame(PING, 0, b"12345678") * 4096, 8)
    else:
        sent = send_flood(sock, lambda stream: request(stream, "/" + "x" * MiB), 8)
    growth = peak_rss(process.pid) - before
    print(f"{flood}: sent {sent / MiB:.0f} MiB unread; peak RSS growth {growth / MiB:.1f} MiB")
    assert growth < 64 * MiB
    assert healthy(endpoint), "other clients are served meanwhile"
    sock.close()


def test_a_peer_that_does_not_read_is_closed_after_the_write_timeout(tmp_path):
    with serving(tmp_path, "--write-timeout", "2") as (process, endpoint):
        host, port = endpoint.rsplit(":", 1)
        sock = socket.create_connection((host, int(port)))
        sock.sendall(PREFACE)
        # Models/List answers are several times their requests: the answers back up fast.
        send_flood(sock, lambda first: b"".join(request(first * 1000 + k, "/tnt.v1.Models/List") for k in range(1000)), 12)
        assert wait_for(lambda: "does not read its answers" in open(process.log).read(), timeout=10), \
            open(process.log).read()[-2000:]
        assert healthy(endpoint)


def test_large_pings_are_a_violation(server):
    _process, endpoint = server
    wire = Wire(endpoint)
    wire.send(frame(PING, 0, b"x" * MiB))
    goaway = wire.goaway()
    assert goaway.status == 3 and "PING carries 8 bytes" in goaway.message
    assert wire.closed_by_server(within=5)


def test_many_large_partial_frames_stay_within_the_server_budget(tmp_path):
    with serving(tmp_path, "--max-buffered-bytes", str(48 * MiB), "--frame-timeout", "3") as (process, endpoint):
        time.sleep(0.5)
        reset_peak(process.pid)
        before = rss(process.pid)
        head = frame(REQUEST, 1, b"\0" * (16 * MiB - 64))[:-1]  # all but the last byte
        wires = [Wire(endpoint) for _ in range(8)]

        def send_partial(wire):
            try:
                wire.sock.settimeout(10)
                wire.send(head)
            except (socket.timeout, BrokenPipeError, ConnectionResetError):
                pass
        threads = [threading.Thread(target=send_partial, args=(w,)) for w in wires]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        growth = peak_rss(process.pid) - before
        print(f"8 connections x 16 MiB partial frames, 48 MiB budget: peak RSS growth {growth / MiB:.1f} MiB")
        assert growth < 48 * MiB + 40 * MiB
        assert wait_for(lambda: healthy(endpoint), timeout=15), "served again once the partial frames time out"


# Finding 4: slowloris. Trickled bytes do not count as activity, a frame must arrive whole
# within --frame-timeout, and one address cannot take every connection.
@pytest.mark.parametrize("server", [("--frame-timeout", "2", "--idle-timeout", "3")], indirect=True)
def test_slow_frames_and_ping_only_peers_are_closed(server):
    _process, endpoint = server
    slow = Wire(endpoint)
    half = request(1, HEALTH, health_pb2.HealthCheckRequest())
    started = time.time()
    for byte in half[:-1]:
        try:
            slow.send(bytes([byte]))
        except (BrokenPipeError, ConnectionResetError):
            break
        time.sleep(0.1)
        if time.time() - started > 6:
            break
    goaway = slow.goaway()
    assert goaway.status == 4 and "did not arrive whole within 2 s" in goaway.message
    assert time.time() - started < 5

    # A preface trickled in is as slow as a frame.
    late = Wire(endpoint, preface=False)
    late.send(PREFACE[:3])
    assert late.closed_by_server(within=5)

    # PINGs keep nothing alive: the idle timeout counts calls.
    pinger = Wire(endpoint)
    started = time.time()
    while time.time() - started < 6:
        try:
            pinger.send(frame(PING, 0, b"12345678"))
        except (BrokenPipeError, ConnectionResetError):
            break
        time.sleep(0.3)
    assert pinger.goaway().status == 0
    assert time.time() - started < 5.5


@pytest.mark.parametrize("server", [("--max-connections-per-peer", "3",)], indirect=True)
def test_one_address_cannot_take_every_connection(server):
    _process, endpoint = server
    held = [Wire(endpoint) for _ in range(3)]
    extra = Wire(endpoint)
    goaway = extra.goaway()
    assert goaway.status == 8 and "limit per address" in goaway.message
    held[0].close()
    assert wait_for(lambda: healthy(endpoint))


# Finding 7: descriptors. The admin port has its own small limit and timeout; the soft
# RLIMIT_NOFILE is raised, and where even the hard limit is short the connection limit is
# fitted to it, so that clients beyond it get GOAWAY instead of a hanging connect.
@pytest.mark.parametrize("server", [("--admin-port", "0", "--admin-max-connections", "4", "--admin-timeout", "2")], indirect=True)
def test_admin_connections_are_limited_and_time_out(server):
    process, endpoint = server
    admin = process.admin
    host, port = admin.rsplit(":", 1)
    idle = [socket.create_connection((host, int(port))) for _ in range(12)]
    time.sleep(0.3)
    refused = 0
    for sock in idle:
        sock.settimeout(0.05)
        try:
            if sock.recv(1) == b"":
                refused += 1
        except socket.timeout:
            pass
    assert refused == 8
    assert healthy(endpoint), "the RPC port is not affected"
    time.sleep(2.5)
    for sock in idle:
        sock.settimeout(1)
        assert sock.recv(1) == b"", "an idle admin connection is closed after --admin-timeout"
    with urllib.request.urlopen(f"http://{admin}/healthz", timeout=5) as response:
        assert response.status == 200


def test_descriptor_limit_fits_the_connection_limit(tmp_path):
    def low_limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (200, 200))
    with serving(tmp_path, "--max-connections", "1024", preexec_fn=low_limit) as (process, endpoint):
        log = open(process.log).read()
        assert "the descriptor limit cannot hold --max-connections" in log
        effective = 200 - 16 - 64
        held = [Wire(endpoint) for _ in range(effective)]
        extra = Wire(endpoint)
        assert extra.goaway().status == 8
        assert open_fds(process.pid) <= 200
        for wire in held[:10]:
            wire.close()
        assert wait_for(lambda: healthy(endpoint))


# Finding 9: every REQUEST read gets a RESPONSE: when the grace expires, after a half-close,
# and when a protocol violation arrives with calls in flight.
def test_calls_left_when_the_grace_expires_are_answered_unavailable(tmp_path):
    with serving(tmp_path, "--shutdown-grace", "1", "--max-queue-delay-us", "3000000",
                                     "--max-batch", "64", "--queue-size", "1024") as (process, endpoint):
        wires = [Wire(endpoint, timeout=30) for _ in range(4)]
        for wire in wires:
            for stream in range(1, 51):
                wire.send(predict_request(stream, [PHOTO]))
        time.sleep(0.3)
        process.send_signal(15)
        answered, unavailable = 0, 0
        for wire in wires:
            for response in wire.responses(50).values():
                answered += 1
                unavailable += response.status == 14 and "not processed" in response.message
        assert answered == 200
        assert unavailable > 0
        assert process.wait(timeout=30) == 0


# Batches that wait 0.3 s to fill: calls stay in flight long enough to act on them.
SLOW_BATCHES = ("--max-queue-delay-us", "300000", "--max-batch", "64")


def queued(endpoint, count):
    """A connection with Predict calls 1...count in flight."""
    wire = Wire(endpoint)
    for stream in range(1, count + 1):
        wire.send(predict_request(stream, [PHOTO]))
    return wire


@pytest.mark.parametrize("server", [SLOW_BATCHES], indirect=True)
def test_a_half_closed_peer_gets_all_its_answers(server):
    _process, endpoint = server
    wire = queued(endpoint, 5)
    wire.sock.shutdown(socket.SHUT_WR)
    answers = wire.responses(5)
    assert sorted(answers) == [1, 2, 3, 4, 5] and all(a.status == 0 for a in answers.values())
    assert wire.closed_by_server(within=5)


@pytest.mark.parametrize("server", [SLOW_BATCHES], indirect=True)
def test_a_violation_still_answers_the_calls_in_flight(server):
    _process, endpoint = server
    wire = queued(endpoint, 3)
    wire.send(frame(0x7F, 9))  # unknown frame type
    got, goaway = {}, None
    while True:
        try:
            kind, stream, body = wire.read_frame()
        except EOFError:
            break
        if kind == GOAWAY:
            from rawwire import rpc_pb2
            goaway = rpc_pb2.GoAway.FromString(body)
        elif kind == 2:
            got[stream] = body
    assert goaway is not None and goaway.status == 3 and goaway.last_stream_id == 3
    assert sorted(got) == [1, 2, 3]
    assert healthy(endpoint)
