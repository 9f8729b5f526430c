"""`tnt finetune` (a linear probe on a model's features) and the in-process library
(TNTClassifier): the probe against scikit-learn on the same features, a task the model was
never trained for, determinism, the new folder served after a reload, and the library, the
CLI and the server agreeing to the bit."""
import hashlib
import json
import os
import signal
import struct
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

pytest.register_assert_rewrite("rawwire")
from rawwire import ROOT, start_server, stop, wait_for  # noqa: E402
from tnt_client import Client  # noqa: E402

TNT = os.path.join(ROOT, ".build", "debug", "tnt")
DIGITS = os.path.join(ROOT, "models", "digits")
EXAMPLES = [os.path.join(ROOT, "examples", f"digit{d}.png") for d in range(10)]


@pytest.fixture(scope="module")
def digits_training(tmp_path_factory):
    """The digits model's training split as PNG class folders, made as tools/train_demo.py made them."""
    if not os.path.exists(TNT):
        pytest.skip("build tnt first (make test does)")
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    from sklearn.model_selection import train_test_split
    from train_demo import digits_as_images
    images, labels = digits_as_images()
    train, _ = train_test_split(np.arange(len(labels)), test_size=0.2, stratify=labels, random_state=0)
    folder = tmp_path_factory.mktemp("digits-train")
    parity = tmp_path_factory.mktemp("digits-parity")
    for k, index in enumerate(train):
        for root, name in ((folder, f"digit {labels[index]}"), (parity, "even" if labels[index] % 2 == 0 else "odd")):
            os.makedirs(root / name, exist_ok=True)
            Image.fromarray(images[index]).save(root / name / f"{labels[index]}_{k:04d}.png")
    return folder, parity


def finetune(*args):
    result = subprocess.run([TNT, "finetune", "--base", DIGITS, *map(str, args)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_probe_on_digits_matches_scikit_learn(digits_training, tmp_path):
    from sklearn.linear_model import LogisticRegression
    train, _ = digits_training
    heldout = os.path.join(DIGITS, "heldout", "list.txt")
    finetune("--data", train, "--held-out", heldout, "--out", tmp_path / "repo" / "probe", "--save-features", tmp_path / "features")
    record = json.load(open(tmp_path / "repo" / "probe" / "training.json"))
    f = lambda name: np.load(tmp_path / "features" / name)
    x, y = f("train_features.npy"), f("train_labels.npy").astype(int)
    xh, yh = f("held_out_features.npy"), f("held_out_labels.npy").astype(int)
    assert x.shape == (1437, 128) and xh.shape == (360, 128)
    reference = (LogisticRegression(max_iter=5000).fit(x, y).predict(xh) == yh).mean()
    print(f"held-out top-1: tnt finetune {record['heldOutTop1']:.4f}, scikit-learn {reference:.4f}")
    assert record["heldOutTop1"] >= 0.94
    assert abs(record["heldOutTop1"] - reference) <= 0.01
    # The folder written classifies as training.json says, through tnt eval.
    evaluated = json.loads(subprocess.run([TNT, "eval", "--models", tmp_path / "repo", "--model", "probe", "--list", heldout, "--json"],
                                          capture_output=True, text=True, check=True).stdout)
    assert evaluated["top1"] == pytest.approx(record["heldOutTop1"], abs=1 / 360 + 1e-9)
    # Deterministic: the same run writes the same head.
    finetune("--data", train, "--held-out", heldout, "--out", tmp_path / "again")
    digest = lambda p: hashlib.sha256(open(p / "weights.safetensors", "rb").read()).hexdigest()
    assert digest(tmp_path / "repo" / "probe") == digest(tmp_path / "again")


def test_a_task_the_model_never_learned_and_the_server_serves_it_after_a_reload(digits_training, tmp_path):
    _, parity = digits_training
    repo = tmp_path / "repo"
    process, endpoint = start_server(repo)  # serves `tiny`
    try:
        out = finetune("--data", parity, "--out", repo / "parity", "--seed", "3")
        record = json.load(open(repo / "parity" / "training.json"))
        assert record["classes"] == ["even", "odd"] and record["heldOutTop1"] >= 0.95, out
        again = tmp_path / "again"
        finetune("--data", parity, "--out", again, "--seed", "3")
        assert json.load(open(again / "training.json"))["heldOutTop1"] == record["heldOutTop1"]
        process.send_signal(signal.SIGHUP)
        with Client(endpoint) as client:
            assert wait_for(lambda: any(m.name == "parity" for m in client.models()))
            for digit, path in enumerate(EXAMPLES):
                served = client.predict(open(path, "rb").read(), model="parity", top_k=2)[0]
                local = json.loads(subprocess.run([TNT, "classify", "--models", repo, "--model", "parity", "--json", "--top-k", "2", path],
                                                  capture_output=True, text=True, check=True).stdout)[0]
                assert list(served.label_names) == local["label_names"]
                assert bits(served.scores) == bits(local["scores"])
                assert served.label_names[0] == ("even" if digit % 2 == 0 else "odd")
    finally:
        stop(process)


def bits(values):
    return [struct.unpack("<I", struct.pack("<f", v))[0] for v in values]


def test_the_library_the_cli_and_the_server_agree_to_the_bit(tmp_path):
    if not os.path.exists(TNT):
        pytest.skip("build tnt first (make test does)")
    package = os.path.join(ROOT, "examples", "classify")
    subprocess.run(["swift", "build", "--package-path", package], check=True, capture_output=True)
    program = subprocess.run(["swift", "build", "--package-path", package, "--show-bin-path"], check=True, capture_output=True, text=True).stdout.strip()
    library = [json.loads(line) for line in subprocess.run([os.path.join(program, "classify"), DIGITS, *EXAMPLES],
                                                           capture_output=True, text=True, check=True).stdout.splitlines()]
    cli = json.loads(subprocess.run([TNT, "classify", "--models", os.path.join(ROOT, "models"), "--json", *EXAMPLES],
                                    capture_output=True, text=True, check=True).stdout)
    os.symlink(DIGITS, tmp_path / "digits")
    process, endpoint = start_server(tmp_path)
    try:
        with Client(endpoint) as client:
            served = [client.predict(open(path, "rb").read(), model="digits")[0] for path in EXAMPLES]
    finally:
        stop(process)
    for digit, (lib, c, s) in enumerate(zip(library, cli, served)):
        assert lib["class_ids"][0] == digit
        assert lib["class_ids"] == c["class_ids"] == list(s.class_ids)
        assert bits(lib["scores"]) == bits(c["scores"]) == bits(s.scores)
        assert lib["label_names"] == c["label_names"] == list(s.label_names)
