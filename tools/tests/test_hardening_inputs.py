"""Hostile and careless inputs against a real tnt-server (issue "Hardening", findings 2, 5,
6, 8, 10, 11): each is refused with a clear status, costs bounded memory, and leaves the
server serving."""
import io
import os
import shutil
import struct
import time
import zlib

import numpy as np
import pytest
from PIL import Image

pytest.register_assert_rewrite("rawwire")
from rawwire import (HEALTH, MiB, PREDICT, SERVER, Wire, classifier_pb2, health_pb2, healthy, image, peak_rss, predict_request,
                     png, request, reset_peak, rss, wait_for, warm)

pytest_plugins = ["rawwire"]  # the `server` fixture
pytestmark = pytest.mark.skipif(not os.path.exists(SERVER), reason="build tnt-server first (make test does)")
PHOTO = open(image("pipeline/china.jpg"), "rb").read()


@pytest.fixture(autouse=True)
def warmed(server):
    warm(server[1], png(40, 40))


def call(endpoint, *frames_):
    wire = Wire(endpoint, timeout=30)
    for data in frames_:
        wire.send(data)
    answer = wire.response()
    wire.close()
    return answer


def chunk(kind, data, length=None):
    return struct.pack(">I", len(data) if length is None else length) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def measured(process, attack):
    """Runs `attack`; returns how far it raised the server's peak RSS over its RSS before."""
    time.sleep(0.3)
    reset_peak(process.pid)
    before = rss(process.pid)
    attack()
    return peak_rss(process.pid) - before


# Finding 2: a text chunk declaring 2^31-1 bytes made libpng allocate and fill ~2 GB.
def test_png_text_chunk_declaring_two_gigabytes(server):
    process, endpoint = server
    small = png(8, 8)
    bombs = [small[:33] + chunk(kind, b"k\0v", length=2**31 - 1) + small[33:] for kind in (b"tEXt", b"zTXt", b"iTXt")]
    # And a well-formed zTXt whose text inflates to 64 MiB: skipped unread.
    inflated = zlib.compress(b"\0" * (64 * MiB), 9)
    bombs.append(small[:33] + chunk(b"zTXt", b"k\0\0" + inflated) + small[33:])
    answers = []
    growth = measured(process, lambda: answers.extend(call(endpoint, predict_request(1, bombs[:3])) for _ in range(3)))
    print(f"text-chunk PNGs: peak RSS growth {growth / MiB:.1f} MiB")
    assert all(a.status == 3 and "declares 2147483647 bytes" in a.message for a in answers)
    assert call(endpoint, predict_request(1, [bombs[3]])).status == 0
    assert growth < 64 * MiB


# Finding 5: every reload leaked the old model (its mapping and heap).
def test_reloads_do_not_leak_models(server):
    process, endpoint = server
    weights = process.repo / "tiny" / "weights.safetensors"

    def reload_once(k):
        staged = process.repo / "tiny" / "weights.new"
        shutil.copy(weights, staged)
        os.rename(staged, weights)  # a new inode: the model reloads
        os.kill(process.pid, 1)
        assert wait_for(lambda: open(process.log).read().count("repository reloaded") >= k, timeout=20)

    for k in range(1, 6):
        reload_once(k)
    time.sleep(1)
    settled = rss(process.pid)
    for k in range(6, 31):
        reload_once(k)
    assert call(endpoint, predict_request(1, [PHOTO])).status == 0
    time.sleep(1)
    maps = [line for line in open(f"/proc/{process.pid}/maps") if "weights" in line]
    growth = rss(process.pid) - settled
    print(f"30 reloads: {len(maps)} weight mappings, RSS growth over the last 25: {growth / MiB:.1f} MiB")
    assert len(maps) <= 2
    assert growth < 8 * MiB


# Finding 6: empty repeated entries cost protobuf-c ~50x their wire size.
def test_decode_amplification_is_bounded(server):
    process, endpoint = server
    empties = b"\x12\x00" * (8 * MiB - 64)  # PredictRequest.inputs, each an empty Input
    answers = []
    growth = measured(process, lambda: answers.append(call(endpoint, request(1, PREDICT, empties))))
    print(f"16 MiB of empty entries: peak RSS growth {growth / MiB:.1f} MiB; {answers[0].message}")
    assert answers[0].status == 3 and "bytes of memory" in answers[0].message
    assert growth < 64 * MiB
    time.sleep(6)  # the trimmer returns what the attack touched
    assert rss(process.pid) - (peak_rss(process.pid) - growth) < 32 * MiB


# Finding 8: answers never echo a client's bulk; names with NUL are refused; no server paths.
def test_errors_do_not_echo_and_names_are_exact(server):
    _process, endpoint = server
    answer = call(endpoint, request(1, "/" + "m" * (8 * MiB)))
    assert answer.status == 12 and len(answer.SerializeToString()) < 1024
    answer = call(endpoint, request(1, PREDICT, classifier_pb2.PredictRequest(model="q" * MiB)))
    assert answer.status == 5 and len(answer.message) < 1024
    shape = classifier_pb2.PredictRequest(model="tiny")
    shape.inputs.add().tensor.CopyFrom(classifier_pb2.Tensor(shape=[7] * 300_000, data=[0.0]))
    answer = call(endpoint, request(1, PREDICT, shape))
    assert answer.status == 3 and len(answer.message) < 1024
    answer = call(endpoint, request(1, PREDICT, classifier_pb2.PredictRequest(model="tiny\0junk")))
    assert answer.status == 3 and "NUL" in answer.message
    answer = call(endpoint, request(1, HEALTH, health_pb2.HealthCheckRequest(service="tiny\0")))
    assert answer.status == 3
    broken = _process.repo / "broken"
    broken.mkdir()
    (broken / "model.json").write_text('{"architecture": "tnt_small", "weights": "missing.safetensors"}')
    os.kill(_process.pid, 1)
    assert wait_for(lambda: "model failed to load" in open(_process.log).read())
    from tnt_client import Client
    with Client(endpoint) as client:
        reasons = [m.state_reason for m in client.models() if m.state_reason]
    assert reasons and not any(str(_process.repo) in r or "/tmp" in r for r in reasons), reasons


# Finding 10: the right answer, or a helpful one.
@pytest.mark.parametrize("server", [("--queue-size", "4", "--max-image-pixels", "2000")], indirect=True)
def test_limits_say_what_they_limit(server):
    _process, endpoint = server
    answer = call(endpoint, predict_request(1, [PHOTO] * 5))
    assert answer.status == 3 and "whole queue" in answer.message
    # The pixel limit applies to the image, not to its resized copy: 8x8 and 40x1 pass.
    assert call(endpoint, predict_request(1, [png(8, 8), png(40, 1)])).status == 0
    answer = call(endpoint, predict_request(1, [png(50, 50)]))
    assert answer.status == 3 and "50x50 = 2500 pixels" in answer.message and "--max-image-pixels" in answer.message


def test_extreme_aspect_ratio_and_side_limit(server):
    _process, endpoint = server
    assert call(endpoint, predict_request(1, [png(40000, 1)])).status == 0
    header = png(8, 8)
    wide = header[:16] + struct.pack(">II", 70000, 1) + header[24:]
    answer = call(endpoint, predict_request(1, [wide]))
    assert answer.status == 3 and "a side above 65500" in answer.message
    # 2^32-1 x 2^32-1 declared: the product overflows 64 bits (found by bench/soak.py).
    vast = header[:16] + struct.pack(">II", 2**32 - 1, 2**32 - 1) + header[24:]
    answer = call(endpoint, predict_request(1, [vast, vast]))
    assert answer.status == 3
    assert healthy(endpoint)


def test_deadlines_apply_to_every_method(server):
    _process, endpoint = server
    for method, message in [(HEALTH, health_pb2.HealthCheckRequest()), ("/tnt.v1.Models/List", b"")]:
        answer = call(endpoint, request(1, method, message, timeout_us=1))
        assert answer.status == 4, (method, answer)


def test_cmyk_jpeg_is_classified_and_nan_tensors_are_refused(server, tmp_path):
    _process, endpoint = server
    rng = np.random.default_rng(3)
    out = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (300, 400, 4), dtype=np.uint8), "CMYK").save(out, "JPEG")
    assert call(endpoint, predict_request(1, [out.getvalue()])).status == 0
    for bad in (float("nan"), float("inf")):
        message = classifier_pb2.PredictRequest(model="tiny")
        data = [0.0] * (3 * 32 * 32)
        data[5] = bad
        message.inputs.add().tensor.CopyFrom(classifier_pb2.Tensor(shape=[3, 32, 32], data=data))
        answer = call(endpoint, request(1, PREDICT, message))
        assert answer.status == 3 and ("finite" in answer.message or "shape" in answer.message), answer.message


# Finding 11: cheap inputs that declare expensive decodes.
def test_cheap_inputs_cannot_buy_expensive_decodes(server):
    process, endpoint = server
    flat = png(4000, 4000, mode="1")  # 2 KB for 16 Mpx
    photo = Image.open(io.BytesIO(PHOTO))
    out = io.BytesIO()
    photo.resize((7000, 7000)).save(out, "JPEG", quality=20)
    truncated = out.getvalue()[:349]
    answers = []
    growth = measured(process, lambda: answers.extend(call(endpoint, predict_request(1, [x])) for x in (flat, truncated)))
    print(f"flat 16 Mpx PNG ({len(flat)} B), truncated 7000x7000 JPEG: peak RSS growth {growth / MiB:.1f} MiB")
    assert all(a.status == 3 for a in answers), [a.message for a in answers]
    assert "decompression bomb" in answers[0].message
    assert growth < 16 * MiB
    assert healthy(endpoint)


def test_decode_work_per_call_is_bounded(server):
    """Many large images in one call (each within the per-image limits) are refused together,
    from their headers, before any is decoded."""
    _process, endpoint = server
    large = png(4000, 4000, mode="1")
    answer = call(endpoint, predict_request(1, [large] * 5))  # 80 Mpx declared
    assert answer.status == 3 and "per call (--max-call-pixels)" in answer.message
    assert "decompression bomb" in call(endpoint, predict_request(1, [large] * 4)).message
