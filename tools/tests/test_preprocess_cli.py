"""`tnt preprocess` against PaddleClas's own pipeline (deploy/python/preprocess.py with the
TNT config: OpenCV decode, Pillow bicubic resize to 248, crop 224, normalize), on real
photographs and on PngSuite images."""
import glob
import os
import subprocess
import sys

import numpy as np
import pytest

TOOLS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROOT = os.path.dirname(TOOLS)
sys.path.insert(0, TOOLS)

TNT = next((p for p in (os.path.join(ROOT, ".build", c, "tnt") for c in ("debug", "release")) if os.path.exists(p)), None)
PNGSUITE = os.path.join(ROOT, "..", "shared", "testdata", "pngsuite")


def photographs():
    import sklearn.datasets
    base = os.path.join(os.path.dirname(sklearn.datasets.__file__), "images")
    return [os.path.join(base, name) for name in ("china.jpg", "flower.jpg")]


def pngsuite_sample():
    names = ["basn2c16.png", "basi3p08.png", "basn4a08.png", "tbbn0g04.png", "s39i3p04.png", "g03n2c08.png", "bgai4a16.png"]
    return [os.path.join(PNGSUITE, n) for n in names]


@pytest.fixture(scope="module")
def pipeline():
    from make_image_expectations import paddleclas_pipeline, paddleclas_preprocess_module
    return paddleclas_pipeline(paddleclas_preprocess_module())


@pytest.mark.skipif(TNT is None, reason="build tnt first (make test does)")
@pytest.mark.parametrize("path", photographs() + pngsuite_sample(), ids=os.path.basename)
def test_matches_paddleclas(path, pipeline, tmp_path):
    from make_image_expectations import run
    expected = run(pipeline, open(path, "rb").read()).astype(np.float32)
    out = tmp_path / "x.npy"
    subprocess.run([TNT, "preprocess", path, "--output", str(out)], check=True)
    actual = np.load(out)
    assert actual.shape == (1,) + expected.shape
    worst = float(np.abs(actual[0] - expected).max())
    assert worst <= 1 / 127.5, f"max |Δ| {worst}"
    assert worst == 0.0, f"not bit-exact: max |Δ| {worst}"


@pytest.mark.skipif(TNT is None, reason="build tnt first (make test does)")
def test_rejects_a_corrupt_png_with_a_reason(tmp_path):
    result = subprocess.run([TNT, "preprocess", os.path.join(PNGSUITE, "xcsn0g01.png"), "--output", str(tmp_path / "x.npy")],
                            capture_output=True, text=True)
    assert result.returncode != 0
    assert "CRC" in result.stderr


@pytest.mark.skipif(TNT is None, reason="build tnt first (make test does)")
def test_pixel_limit_is_configurable(tmp_path):
    photo = photographs()[0]
    result = subprocess.run([TNT, "preprocess", photo, "--output", str(tmp_path / "x.npy"), "--max-pixels", "1000"],
                            capture_output=True, text=True)
    assert result.returncode != 0
    assert "above the limit of 1000" in result.stderr


def cmyk_jpeg(path, ycck):
    """A random CMYK photograph-sized JPEG: Adobe CMYK by Pillow, or YCCK by libjpeg-turbo."""
    import ctypes
    from PIL import Image
    rng = np.random.default_rng(7)
    pixels = np.ascontiguousarray(rng.integers(0, 256, (97, 131, 4), dtype=np.uint8))
    if not ycck:
        Image.fromarray(pixels, "CMYK").save(path, quality=92)
        return
    tj = ctypes.CDLL("libturbojpeg.so.0")
    tj.tjInitCompress.restype = ctypes.c_void_p
    handle = ctypes.c_void_p(tj.tjInitCompress())
    out, size = ctypes.POINTER(ctypes.c_ubyte)(), ctypes.c_ulong(0)
    TJPF_CMYK, TJSAMP_420 = 11, 2
    assert tj.tjCompress2(handle, pixels.ctypes.data_as(ctypes.c_void_p), 131, 0, 97, TJPF_CMYK,
                          ctypes.byref(out), ctypes.byref(size), TJSAMP_420, 90, 0) == 0
    open(path, "wb").write(ctypes.string_at(out, size.value))
    tj.tjFree(out)
    tj.tjDestroy(handle)


@pytest.mark.skipif(TNT is None, reason="build tnt first (make test does)")
@pytest.mark.parametrize("ycck", [False, True], ids=["cmyk", "ycck"])
def test_cmyk_and_ycck_jpegs_match_opencv(ycck, pipeline, tmp_path):
    from make_image_expectations import run
    path = tmp_path / "cmyk.jpg"
    cmyk_jpeg(str(path), ycck)
    expected = run(pipeline, path.read_bytes()).astype(np.float32)
    subprocess.run([TNT, "preprocess", str(path), "--output", str(tmp_path / "x.npy")], check=True)
    actual = np.load(tmp_path / "x.npy")[0]
    assert float(np.abs(actual - expected).max()) == 0.0
