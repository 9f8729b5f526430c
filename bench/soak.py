"""Soak and abuse run against one tnt-server: well-behaved callers pipelining a mix of good
calls, bad inputs and cancels, beside hostile peers (slowloris, peers that never read,
garbage, protocol violations with calls in flight). Reports calls sent, answered by status and
lost (a REQUEST written on a healthy connection that never got its RESPONSE), and the server's
RSS and open descriptors at the start, middle and end.

    python3 bench/soak.py --seconds 600                # starts .build/release/tnt-server
    python3 bench/soak.py --endpoint 127.0.0.1:50051 --pid 1234 --seconds 60
"""
import argparse
import json
import os
import random
import socket
import struct
import sys
import tempfile
import threading
import time
from collections import Counter

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools", "tests"))
from rawwire import (CANCEL, GOAWAY, HEALTH, PING, PREDICT, PREFACE, RESPONSE, Wire, classifier_pb2, frame,  # noqa: E402
                     health_pb2, png, request, rpc_pb2, start_server, stop)
from tnt_client import StatusCode  # noqa: E402


def envelopes(model):
    """(kind, RequestEnvelope bytes) the callers choose from, weighted."""
    def predict(*inputs, **options):
        message = classifier_pb2.PredictRequest(**({"model": model} | options))
        for data in inputs:
            message.inputs.add(encoded_image=data)
        return message.SerializeToString()
    nan = classifier_pb2.PredictRequest(model=model)
    nan.inputs.add().tensor.CopyFrom(classifier_pb2.Tensor(shape=[3, 4, 4], data=[float("nan")] * 48))
    small = [png(48, 40, seed=seed) for seed in range(4)]
    mix = [
        ("health", 30, HEALTH, health_pb2.HealthCheckRequest().SerializeToString(), 0),
        ("list", 10, "/tnt.v1.Models/List", b"", 0),
        ("predict", 25, PREDICT, predict(random.choice(small)), 0),
        ("predict-batch", 5, PREDICT, predict(*small, top_k=3), 0),
        ("bad-image", 8, PREDICT, predict(b"\x89PNG\r\n\x1a\n" + os.urandom(200)), 0),
        ("nan-tensor", 4, PREDICT, nan.SerializeToString(), 0),
        ("unknown-model", 4, PREDICT, predict(small[0], model="nope"), 0),
        ("nul-name", 3, "/tnt.v1.Models/Get", b"\x0a\x05ti\x00ny", 0),
        ("huge-method", 3, "/" + "m" * 65536, b"", 0),
        ("bad-message", 4, PREDICT, b"\x12\xff\xff\xff\xff\x0f", 0),
        ("tiny-deadline", 4, PREDICT, predict(small[1]), 1),
    ]
    return [(kind, weight, rpc_pb2.RequestEnvelope(method=method, payload=payload, timeout_us=timeout).SerializeToString())
            for kind, weight, method, payload, timeout in mix]


class Caller:
    """A well-behaved connection pipelining up to `window` calls, some of them cancelled.
    Every REQUEST it writes must get a RESPONSE."""

    def __init__(self, endpoint, calls, window, seed, stop_event, totals):
        self.endpoint, self.calls, self.window = endpoint, calls, window
        self.random = random.Random(seed)
        self.stop_event, self.totals = stop_event, totals
        self.kinds = [c for c in calls for _ in range(c[1])]

    def run(self):
        while not self.stop_event.is_set():
            self.session()

    def session(self):
        wire = Wire(self.endpoint, timeout=60)
        in_flight = threading.Semaphore(self.window)
        outstanding, lock = set(), threading.Lock()
        status, sent, answered = Counter(), 0, 0
        reader_done = threading.Event()

        def read():
            nonlocal answered
            try:
                while True:
                    kind, stream, body = wire.read_frame()
                    if kind == RESPONSE:
                        code = rpc_pb2.ResponseEnvelope.FromString(body).status
                        with lock:
                            if stream in outstanding:
                                outstanding.remove(stream)
                                status[StatusCode.name(code)] += 1
                                answered += 1
                                in_flight.release()
                    elif kind == GOAWAY:
                        pass
            except (EOFError, OSError):
                pass
            finally:
                reader_done.set()

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        stream, end = 0, time.time() + self.random.uniform(5, 20)  # connections come and go
        try:
            while time.time() < end and not self.stop_event.is_set():
                in_flight.acquire()
                stream += 1
                _kind, _w, envelope = self.random.choice(self.kinds)
                data = struct.pack(">IBBHI", len(envelope), 1, 0, 0, stream) + envelope
                if self.random.random() < 0.03:
                    data += frame(CANCEL, stream)
                with lock:
                    outstanding.add(stream)
                wire.send(data)
                sent += 1
        except OSError:
            pass
        deadline = time.time() + 60
        while time.time() < deadline:
            with lock:
                if not outstanding:
                    break
            if reader_done.is_set():
                break
            time.sleep(0.01)
        wire.close()
        reader.join(timeout=5)
        with lock:
            self.totals.add(sent=sent, answered=answered, lost=len(outstanding), status=status)


class Totals:
    def __init__(self):
        self.lock = threading.Lock()
        self.sent = self.answered = self.lost = 0
        self.status = Counter()
        self.abuse = Counter()

    def add(self, sent, answered, lost, status):
        with self.lock:
            self.sent += sent
            self.answered += answered
            self.lost += lost
            self.status.update(status)

    def abused(self, kind):
        with self.lock:
            self.abuse[kind] += 1


def slowloris(endpoint, stop_event, totals):
    while not stop_event.is_set():
        try:
            wire = Wire(endpoint, timeout=120)
            data = request(1, HEALTH, health_pb2.HealthCheckRequest())
            for byte in data[:-1]:
                if stop_event.is_set():
                    break
                wire.send(bytes([byte]))
                time.sleep(1)
            wire.close()
        except OSError:
            pass
        totals.abused("slowloris connections")


def non_reader(endpoint, stop_event, totals):
    while not stop_event.is_set():
        try:
            host, port = endpoint.rsplit(":", 1)
            sock = socket.create_connection((host, int(port)), timeout=5)
            sock.sendall(PREFACE)
            end = time.time() + 5
            stream = 0
            while time.time() < end and not stop_event.is_set():
                stream += 1000
                sock.sendall(b"".join(request(stream + k, "/tnt.v1.Models/List") for k in range(1000)) + frame(PING, 0, b"12345678") * 500)
        except OSError:
            pass
        finally:
            sock.close()
        totals.abused("non-reading connections")


def garbage(endpoint, stop_event, totals):
    rng = random.Random(5)
    while not stop_event.is_set():
        try:
            host, port = endpoint.rsplit(":", 1)
            sock = socket.create_connection((host, int(port)), timeout=5)
            choice = rng.random()
            if choice < 0.3:
                sock.sendall(bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 4096))))
            elif choice < 0.6:
                sock.sendall(PREFACE + struct.pack(">IBBHI", 0xFFFFFFF0, 1, 0, 0, 1))  # huge declared size
            else:
                sock.sendall(PREFACE + request(5, PREDICT, b"") + frame(0x7E, 1))  # violation after a call
            sock.settimeout(5)
            while sock.recv(65536):
                pass
        except OSError:
            pass
        finally:
            sock.close()
        totals.abused("garbage and violation connections")
        time.sleep(0.05)


def server_sample(pid):
    rss = next(int(line.split()[1]) * 1024 for line in open(f"/proc/{pid}/status") if line.startswith("VmRSS:"))
    return rss, len(os.listdir(f"/proc/{pid}/fd"))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=300)
    parser.add_argument("--callers", type=int, default=6, help="well-behaved connections at a time")
    parser.add_argument("--window", type=int, default=64, help="calls in flight per caller")
    parser.add_argument("--server", default=os.path.join(ROOT, ".build", "release", "tnt-server"))
    parser.add_argument("--endpoint", help="an already running server (then --pid too)")
    parser.add_argument("--pid", type=int)
    parser.add_argument("--model", default="tiny")
    args = parser.parse_args()

    process = None
    if args.endpoint:
        endpoint, pid = args.endpoint, args.pid
    else:
        import conftest
        conftest.SERVER = args.server
        repo = tempfile.mkdtemp(prefix="tnt-soak-")
        from pathlib import Path
        process, endpoint = start_server(Path(repo), log=os.path.join(repo, "server.log"))
        pid = process.pid
    calls = envelopes(args.model)
    totals, stop_event = Totals(), threading.Event()
    threads = [threading.Thread(target=Caller(endpoint, calls, args.window, seed, stop_event, totals).run, daemon=True)
               for seed in range(args.callers)]
    threads += [threading.Thread(target=f, args=(endpoint, stop_event, totals), daemon=True)
                for f in (slowloris, slowloris, non_reader, garbage)]
    for t in threads:
        t.start()
    time.sleep(min(10, args.seconds / 10))
    samples = {"start": server_sample(pid)}
    started = time.time()
    while time.time() - started < args.seconds:
        time.sleep(1)
        if "middle" not in samples and time.time() - started >= args.seconds / 2:
            samples["middle"] = server_sample(pid)
            with totals.lock:
                print(f"middle: {totals.sent} calls sent, {totals.answered} answered", flush=True)
    samples["end"] = server_sample(pid)
    stop_event.set()
    for t in threads:
        t.join(timeout=90)
    samples["after"] = server_sample(pid)
    alive = process is None or process.poll() is None
    if process:
        stop(process)
    growth = (samples["end"][0] - samples["middle"][0]) / samples["middle"][0]
    report = {"seconds": args.seconds, "calls_sent": totals.sent, "answered": totals.answered, "lost": totals.lost,
              "by_status": dict(totals.status.most_common()), "abuse": dict(totals.abuse),
              "rss_mib": {k: round(v[0] / 2**20, 1) for k, v in samples.items()},
              "fds": {k: v[1] for k, v in samples.items()},
              "rss_growth_middle_to_end": f"{growth * 100:+.2f}%", "server_alive": alive}
    print(json.dumps(report, indent=2))
    return 0 if totals.lost == 0 and alive else 1


if __name__ == "__main__":
    sys.exit(main())
