"""The bundled demo model: `tnt eval` reproduces the accuracy PaddlePaddle measured, and a
server on models/ (what `make serve` runs) classifies the examples correctly."""
import glob
import json
import os
import re
import signal
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TNT = os.path.join(ROOT, ".build", "debug", "tnt")
SERVER = os.path.join(ROOT, ".build", "debug", "tnt-server")
MODEL = os.path.join(ROOT, "models", "digits")


@pytest.fixture(autouse=True)
def built():
    if not (os.path.exists(TNT) and os.path.exists(SERVER)):
        pytest.skip("build first (make test does)")


def test_eval_reproduces_paddle_accuracy():
    trained = json.load(open(os.path.join(MODEL, "training.json")))
    result = subprocess.run([TNT, "eval", "--models", os.path.join(ROOT, "models"), "--model", "digits",
                             "--list", os.path.join(MODEL, "heldout", "list.txt"), "--json"],
                            capture_output=True, text=True, check=True)
    measured = json.loads(result.stdout)
    assert measured["images"] == trained["heldout_images"] == 360
    assert abs(measured["top1"] - trained["top1"]) <= 0.005, (measured, trained)
    assert abs(measured["top5"] - trained["top5"]) <= 0.005
    assert measured["top1"] > 0.9


def test_make_serve_model_classifies_the_examples():
    process = subprocess.Popen([SERVER, "--models", os.path.join(ROOT, "models"), "--port", "0"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        endpoint = "127.0.0.1:" + next(l for l in process.stdout if "listening on" in l).rsplit(":", 1)[1].strip()
        examples = sorted(glob.glob(os.path.join(ROOT, "examples", "*.png")))
        assert len(examples) == 10
        result = subprocess.run([TNT, "predict", "--server", endpoint, "--json", *examples], capture_output=True, text=True, check=True)
        for entry in json.loads(result.stdout):
            digit = int(re.search(r"digit(\d)", entry["file_name"]).group(1))
            assert entry["class_ids"][0] == digit, entry
            assert entry["label_names"][0] == f"digit {digit}"
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0


def test_imagenet_labels_in_paddleclas_order():
    names = open(os.path.join(ROOT, "models", "imagenet1k_labels.txt")).read().splitlines()
    assert len(names) == 1000
    assert names[0] == "tench, Tinca tinca" and names[999] == "toilet tissue, toilet paper, bathroom tissue"
