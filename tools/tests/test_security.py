"""TLS, mutual TLS and tokens against real tnt-server processes, through the three clients'
command lines (Swift `tnt`, `python -m tnt_client`, the C `predict` example), with
certificates made here by a throwaway CA (certs.py)."""
import hashlib
import json
import os
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest

pytest.register_assert_rewrite("rawwire")  # before its import: its asserts report values
from certs import Authority
from rawwire import ROOT, image, start_server, stop, wait_for

from tnt_client import Client, RPCError, StatusCode, tls_context

TNT = os.path.join(ROOT, ".build", "debug", "tnt")
C_DIR = os.path.join(ROOT, "clients", "c")
IMAGE = image("pipeline/flower.jpg")
TOKENS = {"alice": "alice-token-0123", "bob": "bob-token-4567", "carol": "carol-token-89ab"}


def token_line(name, models):
    return f"{hashlib.sha256(TOKENS[name].encode()).hexdigest()} {name} {models}\n"


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pki")
    ca = Authority(folder)
    rogue = Authority(folder, name="rogue CA")
    files = {"ca": str(ca.path), "rogue-ca": str(rogue.path)}
    for stem, kwargs in {"server": {}, "server-expired": {"expired": True}, "server-other": {"names": ("other.example",)},
                         "client": {"names": ("alice",), "client": True},
                         "client-expired": {"names": ("bob",), "client": True, "expired": True}}.items():
        files[stem], files[stem + "-key"] = map(str, ca.issue(stem, **kwargs))
    files["client-rogue"], files["client-rogue-key"] = map(str, rogue.issue("client-rogue", names=("mallory",), client=True))
    files["authority"] = ca
    return files


@pytest.fixture(scope="module")
def servers(tmp_path_factory, pki):
    if not os.path.exists(TNT):
        pytest.skip("build tnt and tnt-server first (make test does)")
    subprocess.run(["make", "-s", "-C", C_DIR], check=True)
    started = {}
    tls = ["--tls-cert", pki["server"], "--tls-key", pki["server-key"]]
    for name, args in {"plain": [], "tls": tls, "mtls": tls + ["--tls-client-ca", pki["ca"]],
                       "expired": ["--tls-cert", pki["server-expired"], "--tls-key", pki["server-expired-key"]],
                       "other": ["--tls-cert", pki["server-other"], "--tls-key", pki["server-other-key"]]}.items():
        folder = tmp_path_factory.mktemp(name)
        process, endpoint = start_server(folder, *args, log=folder / "server.log")
        process.log = folder / "server.log"
        started[name] = (process, endpoint)
    yield started
    for process, _ in started.values():
        stop(process)


def run_client(kind, endpoint, *flags, path=IMAGE):
    """One Predict through a client's command line: (exit code, parsed JSON or None, stderr)."""
    command = {
        "swift": [TNT, "predict", "--server", endpoint, "--json", *flags, path],
        "python": [sys.executable, "-m", "tnt_client", "predict", "--server", endpoint, "--json", *flags, path],
        "c": [os.path.join(C_DIR, "build", "predict"), endpoint, *flags, path],
    }[kind]
    environment = {**os.environ, "PYTHONPATH": os.path.join(ROOT, "clients", "python")}
    environment.pop("TNT_TOKEN", None)
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, env=environment)
    try:
        results = json.loads(done.stdout)
    except json.JSONDecodeError:
        results = None
    return done.returncode, results or None, done.stderr


def bits(results):
    return [(r["class_ids"], [struct.unpack("<I", struct.pack("<f", s))[0] for s in r["scores"]]) for r in results]


CLIENTS = ["swift", "python", "c"]


@pytest.mark.parametrize("kind", CLIENTS)
def test_tls_and_mtls_answers_are_bit_identical_to_plaintext(servers, pki, kind):
    ca = ["--tls-ca", pki["ca"]]
    client_cert = ["--tls-cert", pki["client"], "--tls-key", pki["client-key"]]
    answers = {}
    for name, flags in {"plain": [], "tls": ca, "mtls": ca + client_cert}.items():
        code, results, stderr = run_client(kind, servers[name][1], *flags)
        assert code == 0, stderr
        answers[name] = bits(results)
    assert answers["tls"] == answers["plain"] and answers["mtls"] == answers["plain"]
    assert len(answers["plain"][0][0]) == 5


# Each failure: the server, the client's flags, what every client must say, and what the
# server's log must say (None where the server sees only a closed connection).
FAILURES = {
    "plaintext client on a TLS port": ("tls", [], {"all": "this port requires TLS"}, "plaintext client on a TLS port"),
    "TLS client on a plaintext port": ("plain", ["--tls-ca", "ca"], {"swift": "speaks plaintext on this port",
                                                                  "python": "does not speak TLS on this port",
                                                                  "c": "does not speak TLS on this port"},
                                       "a TLS handshake on a plaintext port"),
    "untrusted server certificate": ("tls", ["--tls-ca", "rogue-ca"], {"all": "not signed by a CA this client trusts"},
                                     "the client refused this server's certificate: it is not signed by a CA the client trusts"),
    "expired server certificate": ("expired", ["--tls-ca", "ca"], {"swift": "certificate expired on", "python": "certificate has expired",
                                                                  "c": "certificate has expired"},
                                   "the client refused this server's certificate: it has expired"),
    "wrong server name": ("other", ["--tls-ca", "ca"], {"swift": "is not for '127.0.0.1'", "python": "IP address mismatch",
                                                        "c": "IP address mismatch"}, None),
    "missing client certificate": ("mtls", ["--tls-ca", "ca"], {"all": "requires a client certificate"},
                                   "the client sent no certificate, and this server requires one"),
    "expired client certificate": ("mtls", ["--tls-ca", "ca", "--tls-cert", "client-expired", "--tls-key", "client-expired-key"],
                                   {"all": "refused this client's certificate: it has expired"}, "the client's certificate expired on"),
    "client certificate of another CA": ("mtls", ["--tls-ca", "ca", "--tls-cert", "client-rogue", "--tls-key", "client-rogue-key"],
                                         {"all": "refused this client's certificate: it is not signed by a CA the server trusts"},
                                         "the client's certificate is not signed by a CA this server trusts"),
}


@pytest.mark.parametrize("kind", CLIENTS)
@pytest.mark.parametrize("case", FAILURES)
def test_each_tls_failure_is_explained_and_the_server_keeps_serving(servers, pki, case, kind):
    server, flags, says, logged = FAILURES[case]
    process, endpoint = servers[server]
    flags = [pki.get(flag, flag) for flag in flags]
    code, results, stderr = run_client(kind, endpoint, *flags)
    assert code != 0 and results is None
    assert says.get(kind, says.get("all")) in stderr, stderr
    if logged:
        assert wait_for(lambda: logged in process.log.read_text()), process.log.read_text()[-2000:]
    good = {"plain": [], "tls": ["--tls-ca", pki["ca"]], "mtls": ["--tls-ca", pki["ca"], "--tls-cert", pki["client"], "--tls-key", pki["client-key"]],
            "expired": None, "other": ["--tls-ca", pki["ca"], "--tls-server-name", "other.example"]}[server]
    if good is not None:
        code, results, stderr = run_client("python", endpoint, *good)
        assert code == 0 and results, stderr


def test_openssl_s_client_sees_tls13_and_the_chain_and_tls11_is_refused(servers, pki):
    endpoint = servers["tls"][1]
    shown = subprocess.run(["openssl", "s_client", "-connect", endpoint, "-CAfile", pki["ca"], "-showcerts", "-brief"],
                           input="", capture_output=True, text=True, timeout=30)
    output = shown.stdout + shown.stderr
    assert "Protocol version: TLSv1.3" in output, output
    assert "Verification: OK" in output, output
    chain = subprocess.run(["openssl", "s_client", "-connect", endpoint, "-CAfile", pki["ca"], "-showcerts"],
                           input="", capture_output=True, text=True, timeout=30).stdout
    assert "s:CN = localhost" in chain and "i:CN = TNTServe test CA" in chain, chain
    old = subprocess.run(["openssl", "s_client", "-connect", endpoint, "-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"],
                         input="", capture_output=True, text=True, timeout=30)
    assert old.returncode != 0
    assert "protocol version" in (old.stdout + old.stderr).lower() or "no protocols available" in (old.stdout + old.stderr)


@pytest.fixture
def guarded(tmp_path, pki):
    """A TLS server with tokens and an admin port over TLS: alice may call everything, bob
    only a model named 'other'."""
    tokens = tmp_path / "tokens"
    tokens.write_text("# name models\n" + token_line("alice", "*") + token_line("bob", "other"))
    repo = tmp_path / "repo"
    # Its own copies of the certificate files: the rotation test replaces them.
    cert, key = shutil.copy(pki["server"], tmp_path / "server.pem"), shutil.copy(pki["server-key"], tmp_path / "server.key")
    process, endpoint = start_server(repo, "--tls-cert", str(cert), "--tls-key", str(key), "--auth-tokens", str(tokens),
                                     "--admin-port", "0", "--admin-tls", "true", "--access-log", "true", log=tmp_path / "server.log")
    process.log, process.tokens, process.cert, process.key = tmp_path / "server.log", tokens, cert, key
    yield process, endpoint
    stop(process)


def test_tokens_missing_unknown_allowed_and_forbidden(guarded, pki):
    process, endpoint = guarded
    tls = tls_context(pki["ca"])
    data = open(IMAGE, "rb").read()
    cases = {None: StatusCode.UNAUTHENTICATED, "not-a-token": StatusCode.UNAUTHENTICATED,
             TOKENS["bob"]: StatusCode.PERMISSION_DENIED, TOKENS["alice"]: StatusCode.OK}
    for token, expected in cases.items():
        with Client(endpoint, tls=tls, token=token) as client:
            assert client.health() == "SERVING"  # probes need no token
            try:
                client.predict(data, model="tiny")
                got = StatusCode.OK
            except RPCError as error:
                got = error.code
                assert ("token" in error.message) or ("authorization" in error.message)
            assert got == expected, (token, got)
            if expected == StatusCode.OK:
                assert [m.name for m in client.models()] == ["tiny"]
            elif expected == StatusCode.PERMISSION_DENIED:
                assert client.models() == []  # bob sees only what he may call
                with pytest.raises(RPCError) as denied:
                    client.model("tiny")
                assert denied.value.code == StatusCode.PERMISSION_DENIED
    # The Swift and C clients send the token the same way.
    for kind in ("swift", "c"):
        code, results, stderr = run_client(kind, endpoint, "--tls-ca", pki["ca"], "--token", TOKENS["alice"])
        assert code == 0 and results, stderr
        code, _, stderr = run_client(kind, endpoint, "--tls-ca", pki["ca"], "--token", TOKENS["bob"])
        assert code != 0 and "may not call model 'tiny'" in stderr, stderr
        code, _, stderr = run_client(kind, endpoint, "--tls-ca", pki["ca"])
        assert code != 0 and "authorization" in stderr, stderr
    # The caller's name labels the metrics, read over the admin port's TLS; plain HTTP there fails.
    metrics = urllib.request.urlopen(f"https://{process.admin}/metrics", context=tls_context(pki["ca"]), timeout=10).read().decode()
    assert 'caller="alice"' in metrics and 'caller="bob"' in metrics and 'caller="unauthenticated"' in metrics
    with pytest.raises((urllib.error.URLError, ConnectionError)):
        urllib.request.urlopen(f"http://{process.admin}/metrics", timeout=10)
    log = process.log.read_text()
    assert "caller=alice" in log and "status=PERMISSION_DENIED" in log
    # The container's probe reads /readyz on the admin port: TLS there needs --tls (or TNT_ADMIN_TLS).
    ready = subprocess.run([TNT, "ready", "--admin", process.admin, "--tls", "true"], capture_output=True, text=True, timeout=30)
    assert ready.returncode == 0 and ready.stdout.startswith("HTTP/1.1 200"), ready.stdout + ready.stderr
    plain = subprocess.run([TNT, "ready", "--admin", process.admin, "--tls", "false"], capture_output=True, text=True, timeout=30)
    assert plain.returncode == 1 and "NOT READY" in plain.stdout


def test_certificate_and_tokens_rotate_under_a_stream_of_calls(guarded, pki, tmp_path):
    process, endpoint = guarded
    data = open(IMAGE, "rb").read()
    serials = []

    def serial():
        host, port = endpoint.rsplit(":", 1)
        with ssl.create_default_context(cafile=pki["ca"]).wrap_socket(socket.create_connection((host, int(port))),
                                                                       server_hostname="localhost") as sock:
            return sock.getpeercert()["serialNumber"]

    failures, calls, stop_calls = [], [0], threading.Event()

    def stream():
        # One long connection, and a new one every tenth call (new handshakes see the rotation).
        long_lived = Client(endpoint, tls=tls_context(pki["ca"]), token=TOKENS["carol"])
        while not stop_calls.is_set():
            try:
                long_lived.predict(data, model="tiny")
                if calls[0] % 10 == 0:
                    with Client(endpoint, tls=tls_context(pki["ca"]), token=TOKENS["carol"]) as fresh:
                        fresh.health()
                        fresh.predict(data, model="tiny")
                calls[0] += 1
            except Exception as error:  # noqa: BLE001 - every failure counts
                failures.append(repr(error))
                time.sleep(0.05)
        long_lived.close()

    # carol joins (and alice leaves) before the stream starts: the token file is read on SIGHUP.
    process.tokens.write_text(token_line("carol", "*") + token_line("bob", "other"))
    process.send_signal(signal.SIGHUP)
    assert wait_for(lambda: "token file reloaded" in process.log.read_text())
    serials.append(serial())
    worker = threading.Thread(target=stream)
    worker.start()
    try:
        assert wait_for(lambda: calls[0] >= 5, timeout=60)
        # A new certificate (same CA): new handshakes get it, the open connection keeps going.
        fresh_cert, fresh_key = pki["authority"].issue("server-rotated")
        os.replace(fresh_cert, process.cert)
        os.replace(fresh_key, process.key)
        process.send_signal(signal.SIGHUP)
        assert wait_for(lambda: "TLS certificate reloaded" in process.log.read_text())
        serials.append(serial())
        before = calls[0]
        assert wait_for(lambda: calls[0] >= before + 15, timeout=60)
        # A broken certificate file: logged, and the rotated certificate keeps serving.
        with open(process.cert, "w") as broken:
            broken.write("not a certificate\n")
        process.send_signal(signal.SIGHUP)
        assert wait_for(lambda: "TLS certificate reload failed" in process.log.read_text())
        serials.append(serial())
        process.tokens.write_text(token_line("carol", "other"))  # carol loses tiny
        process.send_signal(signal.SIGHUP)
        assert wait_for(lambda: process.log.read_text().count("token file reloaded") >= 2)
    finally:
        stop_calls.set()
        worker.join(timeout=60)
    # Calls before the last token change all succeeded; after it, carol is refused.
    denied = [f for f in failures if "PERMISSION_DENIED" in f]
    assert failures == denied and calls[0] >= 20, failures[:5]
    assert serials[0] != serials[1] and serials[1] == serials[2]
    with Client(endpoint, tls=tls_context(pki["ca"]), token=TOKENS["alice"]) as client:
        with pytest.raises(RPCError) as unknown:
            client.predict(data, model="tiny")
        assert unknown.value.code == StatusCode.UNAUTHENTICATED


def test_bad_tls_settings_stop_the_server_with_a_reason(tmp_path, pki):
    for args, says in [(["--tls-cert", pki["server"]], "--tls-cert and --tls-key go together"),
                       (["--tls-cert", pki["server"], "--tls-key", pki["client-key"]], "does the key belong to the certificate?"),
                       (["--tls-cert", str(tmp_path / "missing.pem"), "--tls-key", pki["server-key"]], "cannot read"),
                       (["--tls-client-ca", pki["ca"]], "--tls-client-ca needs --tls-cert"),
                       (["--auth-tokens", str(tmp_path / "missing")], "cannot read token file")]:
        with pytest.raises(AssertionError):
            start_server(tmp_path / "repo", *args, log=tmp_path / "server.log")
        assert says in (tmp_path / "server.log").read_text(), (args, (tmp_path / "server.log").read_text()[-800:])
    bad = tmp_path / "tokens"
    bad.write_text("alice-token-0123 alice *\n")
    with pytest.raises(AssertionError):
        start_server(tmp_path / "repo", "--auth-tokens", str(bad), log=tmp_path / "server.log")
    assert "line 1" in (tmp_path / "server.log").read_text() and "not the token" in (tmp_path / "server.log").read_text()


def test_c_client_built_without_openssl_says_so(servers, pki, tmp_path):
    build = tmp_path / "c-plain"
    subprocess.run(["make", "-s", "-C", C_DIR, "TLS=0", f"BUILD={build}"], check=True)
    predict = str(build / "predict")
    done = subprocess.run([predict, servers["tls"][1], "--tls-ca", pki["ca"], IMAGE], capture_output=True, text=True, timeout=30)
    assert done.returncode != 0 and "built without TLS" in done.stderr, done.stderr
    plain = subprocess.run([predict, servers["plain"][1], IMAGE], capture_output=True, text=True, timeout=30)
    assert plain.returncode == 0 and json.loads(plain.stdout), plain.stderr
