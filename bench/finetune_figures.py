"""Issue 15's figures: tnt finetune (release build) on (a) digits, (b) even/odd, (c) TNT_small on 1,000 JPEGs.

Usage: python3 bench/finetune_figures.py [WORKDIR]   (needs bench/rpc_ratio.sh's .build/bench/models/tnt_small)"""
import os, subprocess, sys, tempfile
import numpy as np
from PIL import Image
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__))); TNT = ROOT + "/.build/release/tnt"
OUT = sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="tnt-finetune-")
sys.path.insert(0, ROOT + "/tools")
from sklearn.model_selection import train_test_split
from sklearn.linear_model import LogisticRegression
from train_demo import digits_as_images
images, labels = digits_as_images()
train, _ = train_test_split(np.arange(len(labels)), test_size=0.2, stratify=labels, random_state=0)
for k, i in enumerate(train):
    for root, name in ((f"{OUT}/digits", f"digit {labels[i]}"), (f"{OUT}/parity", "even" if labels[i] % 2 == 0 else "odd")):
        os.makedirs(f"{root}/{name}", exist_ok=True)
        Image.fromarray(images[i]).save(f"{root}/{name}/{labels[i]}_{k:04d}.png")
def run(*args):
    r = subprocess.run([TNT, "finetune", *args], capture_output=True, text=True, check=True)
    print("$ tnt finetune " + " ".join(args)); print(r.stdout.strip())
heldout = ROOT + "/models/digits/heldout/list.txt"
run("--base", ROOT + "/models/digits", "--data", f"{OUT}/digits", "--held-out", heldout, "--out", f"{OUT}/probe", "--save-features", f"{OUT}/features")
f = lambda n: np.load(f"{OUT}/features/{n}")
ref = (LogisticRegression(max_iter=5000).fit(f("train_features.npy"), f("train_labels.npy").astype(int)).predict(f("held_out_features.npy")) == f("held_out_labels.npy").astype(int)).mean()
print(f"scikit-learn LogisticRegression on the same features: held-out top-1 {ref:.4f}")
run("--base", ROOT + "/models/digits", "--data", f"{OUT}/parity", "--out", f"{OUT}/parity-model", "--seed", "3")
rng = np.random.default_rng(0)
for k in range(1000):
    c = k % 4; d = f"{OUT}/jpegs/class{c}"; os.makedirs(d, exist_ok=True)
    base = np.zeros((240, 320, 3)); base[..., c % 3] = 60 * (c + 1)
    Image.fromarray(np.clip(base + rng.normal(0, 40, base.shape), 0, 255).astype(np.uint8)).save(f"{d}/{k:04d}.jpg", quality=90)
run("--base", ROOT + "/.build/bench/models/tnt_small", "--data", f"{OUT}/jpegs", "--out", f"{OUT}/small-probe")
