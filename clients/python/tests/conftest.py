import json
import os
import shutil
import signal
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
sys.path.insert(0, os.path.join(ROOT, "clients", "python"))
# TNT_SERVER runs the tests against another build (for example .build/release/tnt-server).
SERVER = os.environ.get("TNT_SERVER", os.path.join(ROOT, ".build", "debug", "tnt-server"))
FIXTURE = os.path.join(ROOT, "Tests", "TNTModelTests", "Fixtures", "tiny-sharp")


def start_server(repo, *args, log=None, **popen):
    """tnt-server on a free port over a repository holding `tiny`; its log to the file `log`."""
    os.makedirs(repo / "tiny", exist_ok=True)
    shutil.copy(os.path.join(FIXTURE, "weights.safetensors"), repo / "tiny")
    config = json.load(open(os.path.join(FIXTURE, "config.json")))
    json.dump({"architecture": config, "weights": "weights.safetensors", "labels": "labels.txt"}, open(repo / "tiny" / "model.json", "w"))
    (repo / "tiny" / "labels.txt").write_text("".join(f"digit {i}\n" for i in range(10)))
    process = subprocess.Popen([SERVER, "--port", "0", "--models", str(repo), *args], stdout=subprocess.PIPE,
                               stderr=open(log, "w") if log else subprocess.DEVNULL, text=True, **popen)
    process.admin = process.grpc = None
    for line in process.stdout:
        if "admin on" in line:
            process.admin = "127.0.0.1:" + line.rsplit(":", 1)[1].strip()
        if "grpc on" in line:
            process.grpc = "127.0.0.1:" + line.rsplit(":", 1)[1].strip()
        if "listening on" in line:
            return process, "127.0.0.1:" + line.rsplit(":", 1)[1].strip()
    raise AssertionError("tnt-server did not start")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if not os.path.exists(SERVER):
        pytest.skip("build tnt-server first (make test does)")
    process, endpoint = start_server(tmp_path_factory.mktemp("models"))
    yield endpoint
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0


def image(name):
    return os.path.join(ROOT, "Tests", "TNTImageTests", "Fixtures", name)
