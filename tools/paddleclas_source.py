"""PaddleClas's own source files, read straight out of the `paddleclas` wheel.

The wheel is fetched once with `pip download --no-deps paddleclas==2.6.0` into .cache/
(tools/install-deps.sh does it); nothing of PaddleClas is copied into this repository.
"""
import glob
import importlib.util
import os
import subprocess
import sys
import zipfile

VERSION = "2.6.0"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CACHE = os.path.join(ROOT, ".cache", "paddleclas")


def wheel_path():
    found = glob.glob(os.path.join(CACHE, f"paddleclas-{VERSION}-*.whl"))
    if not found:
        os.makedirs(CACHE, exist_ok=True)
        subprocess.check_call([sys.executable, "-m", "pip", "download", "-q", "--no-deps",
                               f"paddleclas=={VERSION}", "-d", CACHE])
        found = glob.glob(os.path.join(CACHE, f"paddleclas-{VERSION}-*.whl"))
    return found[0]


def read(member):
    with zipfile.ZipFile(wheel_path()) as wheel:
        return wheel.read(f"paddleclas/{member}").decode("utf-8")


def load_tnt_module():
    """PaddleClas's ppcls/arch/backbone/model_zoo/tnt.py as a module, with its two
    package-relative import lines blanked (they only load pretrained weights); the math is
    untouched."""
    source = read("ppcls/arch/backbone/model_zoo/tnt.py")
    blanked = []
    for line in source.splitlines():
        if line.startswith("from ..base.theseus_layer import") or line.startswith("from ....utils.save_load import"):
            blanked.append("")
        else:
            blanked.append(line)
    assert len([l for l in blanked if l == ""]) >= 2
    # A real file, not exec'd text: paddle.jit (ONNX export) reads the layers' source.
    path = os.path.join(CACHE, "paddleclas_tnt.py")
    text = "\n".join(blanked) + "\n"
    if not os.path.exists(path) or open(path).read() != text:
        with open(path, "w") as f:
            f.write(text)
    spec = importlib.util.spec_from_file_location("paddleclas_tnt", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
