"""Several real tnt-server replicas on loopback addresses (127.0.0.2, 127.0.0.3, ...) on one
port, behind one DNS name: an /etc/hosts entry this module writes and removes. The Swift
(`tnt bench rpc`), Python and C clients spread calls over every replica, follow the name as
replicas join and leave, and lose no call when replicas drain, age out or roll."""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

import pytest

pytest.register_assert_rewrite("rawwire")  # before its import: its asserts report values
from rawwire import ROOT, SERVER, wait_for

sys.path.insert(0, os.path.join(ROOT, "clients", "python", "tests"))
from conftest import FIXTURE  # noqa: E402
from tnt_client import Client, RPCError  # noqa: E402

TNT = os.path.join(ROOT, ".build", "debug", "tnt")
C_PREDICT = os.path.join(ROOT, "clients", "c", "build", "predict")
HOSTS = "/etc/hosts"
NAME = f"tnt-fleet-{os.getpid()}.test"
ADDRESSES = [f"127.0.0.{i}" for i in range(2, 6)]
PNG = os.path.join(ROOT, "examples", "digit3.png")


class Hosts:
    """The test's name in /etc/hosts, pointing at a chosen set of addresses; restored after."""

    def __init__(self):
        with open(HOSTS) as f:
            self.original = f.read()

    def point(self, *addresses):
        lines = "".join(f"{address} {NAME}\n" for address in addresses)
        with open(HOSTS, "w") as f:  # one write: readers see the old or the new file
            f.write(self.original + lines)

    def restore(self):
        with open(HOSTS, "w") as f:
            f.write(self.original)


class Replica:
    """One tnt-server on `address`:`port`, admin port on the same address."""

    def __init__(self, folder, address, port, *args):
        self.folder, self.address, self.port, self.args = folder, address, port, args
        self.start()

    def start(self):
        self.log = open(self.folder / f"{self.address}.log", "a")
        self.process = subprocess.Popen([SERVER, "--host", self.address, "--port", str(self.port), "--admin-port", "0",
                                         "--models", str(self.folder / "repo"), *self.args],
                                        stdout=subprocess.PIPE, stderr=self.log, text=True)
        for line in self.process.stdout:
            if "admin on" in line:
                self.admin = f"{self.address}:{line.rsplit(':', 1)[1].strip()}"
            if "listening on" in line:
                return
        raise AssertionError(f"replica {self.address} did not start")

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            assert self.process.wait(timeout=60) == 0
        self.log.close()

    def calls(self):
        """Calls this replica answered OK, from its /metrics."""
        text = urllib.request.urlopen(f"http://{self.admin}/metrics", timeout=10).read().decode()
        return sum(float(m.group(1)) for m in re.finditer(r'^tnt_rpc_calls_total\{[^}]*code="OK"[^}]*\} ([0-9.e+]+)$', text, re.M))


@pytest.fixture
def fleet(tmp_path):
    if not os.access(HOSTS, os.W_OK):
        pytest.skip("the fleet tests write /etc/hosts (run as root, as CI does)")
    if not os.path.exists(TNT):
        pytest.skip("build tnt and tnt-server first (make test does)")
    subprocess.run(["make", "-s", "-C", os.path.join(ROOT, "clients", "c")], check=True)
    repo = tmp_path / "repo" / "tiny"
    repo.mkdir(parents=True)
    shutil.copy(os.path.join(FIXTURE, "weights.safetensors"), repo)
    config = json.load(open(os.path.join(FIXTURE, "config.json")))
    (repo / "model.json").write_text(json.dumps({"architecture": config, "weights": "weights.safetensors"}))
    with socket.socket() as probe:  # a port free on every test address
        probe.bind((ADDRESSES[0], 0))
        port = probe.getsockname()[1]
    hosts = Hosts()
    replicas = []

    class Fleet:
        endpoint = f"{NAME}:{port}"

        @staticmethod
        def start(address, *args):
            replicas.append(Replica(tmp_path, address, port, *args))
            return replicas[-1]

        point = staticmethod(hosts.point)

    try:
        yield Fleet
    finally:
        hosts.restore()
        for replica in replicas:
            replica.stop()


def swift_stream(endpoint, seconds, *flags):
    """`tnt bench rpc` in the background: Health calls from 8 callers for `seconds`; it exits
    non-zero at the first failed call."""
    return subprocess.Popen([TNT, "bench", "rpc", "--server", endpoint, "--method", "health", "--concurrency", "8",
                             "--connections", "2", "--seconds", str(seconds), *flags],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


class PythonStream:
    """`callers` threads sharing one Client, each calling Health until stopped; counts."""

    def __init__(self, endpoint, callers=8, **client_args):
        self.client = Client(endpoint, timeout=10, **client_args)
        self.sent = self.ok = 0
        self.failures = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self.run) for _ in range(callers)]
        for thread in self.threads:
            thread.start()

    def run(self):
        while not self.stopping.is_set():
            with self.lock:
                self.sent += 1
            try:
                self.client.health()
                with self.lock:
                    self.ok += 1
            except RPCError as error:
                with self.lock:
                    self.failures.append(str(error))

    def stop(self):
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=60)
        self.client.close()
        return self.sent, self.ok, self.failures


def test_calls_spread_evenly_over_every_replica_of_a_name(fleet):
    replicas = [fleet.start(address) for address in ADDRESSES[:3]]
    fleet.point(*ADDRESSES[:3])
    with Client(fleet.endpoint, timeout=10) as client:
        assert sorted(client.servers) == sorted(f"{a}:{fleet.endpoint.rsplit(':', 1)[1]}" for a in ADDRESSES[:3])
        for _ in range(3000):
            client.health()
    python = [r.calls() for r in replicas]
    swift = swift_stream(fleet.endpoint, 3)
    out, err = swift.communicate(timeout=60)
    assert swift.returncode == 0, err
    total = [r.calls() for r in replicas]
    swift_counts = [t - p for t, p in zip(total, python)]
    print(f"spread over 3 replicas: Python {python} of 3000, Swift {swift_counts} ({out.strip()})")
    for counts in (python, swift_counts):
        even = sum(counts) / 3
        assert all(abs(c - even) <= 0.15 * even for c in counts), counts
    # Least loaded: each call to the replica with the fewest in flight; every one gets calls.
    least = swift_stream(fleet.endpoint, 2, "--least-loaded")
    out, err = least.communicate(timeout=60)
    assert least.returncode == 0, err
    after = [r.calls() for r in replicas]
    least_counts = [a - t for a, t in zip(after, total)]
    print(f"least loaded: {least_counts}")
    assert all(c > 0.1 * sum(least_counts) for c in least_counts), least_counts


def test_a_replica_added_to_the_name_gets_calls_within_a_reresolution(fleet):
    replicas = [fleet.start(address) for address in ADDRESSES[:3]]
    fleet.point(*ADDRESSES[:2])
    python = PythonStream(fleet.endpoint, reresolve_interval=1.0)
    swift = swift_stream(fleet.endpoint, 8, "--reresolve-interval", "1")
    time.sleep(2)
    assert replicas[2].calls() == 0
    added = time.monotonic()
    fleet.point(*ADDRESSES[:3])
    assert wait_for(lambda: replicas[2].calls() > 0, timeout=10)
    delay = time.monotonic() - added
    before = replicas[2].calls()
    sent, ok, failures = python.stop()
    assert wait_for(lambda: replicas[2].calls() > before, timeout=10)  # the Swift stream too
    out, err = swift.communicate(timeout=60)
    print(f"new replica's first call {delay:.2f} s after the name changed (re-resolution every 1 s); Python {sent} sent, {ok} OK")
    assert swift.returncode == 0 and not failures and sent - ok <= 8, (err, failures[:3])


@pytest.mark.parametrize("how", ["SIGTERM", "removed from the name"])
def test_a_replica_leaving_fails_no_call(fleet, how):
    replicas = [fleet.start(address) for address in ADDRESSES[:3]]
    fleet.point(*ADDRESSES[:3])
    python = PythonStream(fleet.endpoint, reresolve_interval=1.0)
    swift = swift_stream(fleet.endpoint, 6, "--reresolve-interval", "1")
    # The C client resolves only when it reconnects: it takes part where its server leaves.
    c_client = subprocess.Popen([C_PREDICT, fleet.endpoint, *[PNG] * 400], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True) if how == "SIGTERM" else None
    time.sleep(2)
    if how == "SIGTERM":
        replicas[0].stop()
    else:
        fleet.point(*ADDRESSES[1:3])
        time.sleep(2)
        settled = replicas[0].calls()
        time.sleep(1)
        assert replicas[0].calls() == settled  # no new calls once its calls finished
    time.sleep(2)
    sent, ok, failures = python.stop()
    out, err = swift.communicate(timeout=60)
    print(f"{how}: Python {sent} sent, {ok} OK, {len(failures)} failed")
    assert not failures, failures[:3]
    assert swift.returncode == 0, err
    if c_client:
        c_out, c_err = c_client.communicate(timeout=120)
        assert c_client.returncode == 0 and len(json.loads(c_out)) == 400, c_err


def test_max_connection_age_spreads_a_client_that_started_alone(fleet):
    first = fleet.start(ADDRESSES[0], "--max-connection-age", "2", "--max-connection-age-grace", "5")
    fleet.point(ADDRESSES[0])
    # Re-resolution every minute: only the age's GOAWAY makes these clients look again.
    python = PythonStream(fleet.endpoint, reresolve_interval=60.0)
    swift = swift_stream(fleet.endpoint, 10, "--reresolve-interval", "60")
    time.sleep(1)
    others = [fleet.start(address, "--max-connection-age", "2", "--max-connection-age-grace", "5") for address in ADDRESSES[1:3]]
    fleet.point(*ADDRESSES[:3])
    assert wait_for(lambda: all(r.calls() > 0 for r in others), timeout=20)
    sent, ok, failures = python.stop()
    out, err = swift.communicate(timeout=60)
    print(f"after the age GOAWAYs: calls per replica {[r.calls() for r in [first, *others]]}; Python {sent} sent, {ok} OK")
    assert not failures and swift.returncode == 0, (failures[:3], err)


def test_rolling_update_loses_no_call(fleet):
    replicas = [fleet.start(address) for address in ADDRESSES[:3]]
    fleet.point(*ADDRESSES[:3])
    python = PythonStream(fleet.endpoint, reresolve_interval=1.0)
    swift = swift_stream(fleet.endpoint, 25, "--reresolve-interval", "1")
    c_client = subprocess.Popen([C_PREDICT, fleet.endpoint, *[PNG] * 1500], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1)
    for replica in replicas:
        replica.stop()
        replica.start()
        time.sleep(2)
    sent, ok, failures = python.stop()
    out, err = swift.communicate(timeout=120)
    c_out, c_err = c_client.communicate(timeout=300)
    swift_calls = re.search(r"(\d+) calls completed", out)
    print(f"rolling update of 3 replicas under 8 Python callers: {sent} sent, {ok} OK, {len(failures)} failed; "
          f"Swift 8 callers: {swift_calls.group(1) if swift_calls else '?'} OK, exit {swift.returncode}; "
          f"C: {len(json.loads(c_out)) if c_client.returncode == 0 else 'failed'} of 1500")
    assert not failures and sent == ok, failures[:3]
    assert swift.returncode == 0, err
    assert c_client.returncode == 0, c_err
