"""Writes the seed corpora of the fuzz targets (fuzz/corpus/TARGET/), small valid inputs the
fuzzer mutates from. Run once; the files are committed."""
import io
import json
import os
import shutil
import struct
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools", "tests"))
from rawwire import PREFACE, frame, request  # noqa: E402
from tnt_client.proto import classifier_pb2, health_pb2, models_pb2, rpc_pb2  # noqa: E402

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

OUT = os.path.join(ROOT, "fuzz", "corpus")


def write(target, name, data):
    os.makedirs(os.path.join(OUT, target), exist_ok=True)
    with open(os.path.join(OUT, target, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def small_png():
    out = io.BytesIO()
    Image.fromarray(np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3)).save(out, "PNG")
    return out.getvalue()


def main():
    health = request(1, "/tnt.v1.Health/Check", health_pb2.HealthCheckRequest())
    write("frame", "preface-health", PREFACE + health)
    write("frame", "ping-cancel", PREFACE + frame(4, 0, b"12345678") + frame(3, 7))
    write("frame", "two-requests", health + request(2, "/tnt.v1.Models/List"))

    predict = classifier_pb2.PredictRequest(model="tiny", top_k=3, return_probabilities=True)
    predict.inputs.add(encoded_image=small_png())
    predict.inputs.add().tensor.CopyFrom(classifier_pb2.Tensor(shape=[3, 2, 2], data=[0.5] * 12))
    predict.inputs.add().rgb.CopyFrom(classifier_pb2.RGBImage(width=2, height=1, pixels=bytes(6)))
    envelope = rpc_pb2.RequestEnvelope(method="/tnt.v1.Classifier/Predict", timeout_us=5000, payload=predict.SerializeToString())
    envelope.metadata.add(key="k", value="v")
    write("messages", "request-envelope", envelope.SerializeToString())
    write("messages", "predict-request", predict.SerializeToString())
    response = classifier_pb2.PredictResponse(model="tiny")
    result = response.results.add(class_ids=[3, 1], scores=[0.7, 0.2], label_names=["a", "b"])
    result.timings.batch_size = 2
    write("messages", "predict-response", response.SerializeToString())
    info = models_pb2.ModelInfo(name="tiny", architecture="custom", input_shape=[3, 64, 64], classes=10)
    write("messages", "list-models", models_pb2.ListModelsResponse(models=[info]).SerializeToString())
    write("messages", "go-away", rpc_pb2.GoAway(last_stream_id=9, status=14, message="bye").SerializeToString())
    write("messages", "response-envelope", rpc_pb2.ResponseEnvelope(status=3, message="no").SerializeToString())

    suite = os.path.join(ROOT, "..", "shared", "testdata", "pngsuite")
    for name in ["basn0g01.png", "basn2c16.png", "basi3p08.png", "basn4a08.png", "basn6a16.png", "tbbn0g04.png",
                 "s09i3p02.png", "ct1n0g04.png", "ctzn0g04.png", "g03n2c08.png", "f04n2c08.png", "cs3n2c16.png"]:
        os.makedirs(os.path.join(OUT, "png"), exist_ok=True)
        shutil.copy(os.path.join(suite, name), os.path.join(OUT, "png", name))
    write("png", "small-rgb.png", small_png())

    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 256, (24, 20, 3), dtype=np.uint8)
    for name, options in [("baseline444.jpg", {"subsampling": 0}), ("yuv420.jpg", {"subsampling": 2}),
                          ("progressive.jpg", {"progressive": True}), ("restart.jpg", {"quality": 50})]:
        out = io.BytesIO()
        Image.fromarray(pixels).save(out, "JPEG", **options)
        write("jpeg", name, out.getvalue())
    out = io.BytesIO()
    Image.fromarray(pixels[:, :, 0]).save(out, "JPEG")
    write("jpeg", "gray.jpg", out.getvalue())
    out = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (16, 12, 4), dtype=np.uint8), "CMYK").save(out, "JPEG")
    write("jpeg", "cmyk.jpg", out.getvalue())
    exif = Image.Exif()
    exif[0x0112] = 6
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "JPEG", exif=exif.tobytes())
    write("jpeg", "exif-rotate.jpg", out.getvalue())

    weights = open(os.path.join(ROOT, "Tests", "TNTModelTests", "Fixtures", "tiny-sharp", "weights.safetensors"), "rb").read()
    (length,) = struct.unpack("<Q", weights[:8])
    header = json.loads(weights[8:8 + length])
    small = dict(list((k, v) for k, v in header.items() if k != "__metadata__")[:4])
    small["__metadata__"] = {"format": "pt"}
    write("safetensors", "tiny-header.json", json.dumps(small))
    write("safetensors", "one.json", json.dumps({"w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}}))

    config = json.load(open(os.path.join(ROOT, "Tests", "TNTModelTests", "Fixtures", "tiny-sharp", "config.json")))
    write("modeljson", "custom.json", json.dumps({"architecture": config, "weights": "w.safetensors", "labels": "l.txt"}))
    write("modeljson", "preset.json", json.dumps({"architecture": "tnt_small", "weights": "w.safetensors",
                                                  "preprocess": {"resize_short": 256, "crop_size": 224, "interpolation": "bilinear"}}))
    write("config", "config.json", json.dumps({"port": 50051, "max-batch": 4, "log-format": "json", "models": "/models"}))
    write("config", "limits.json", json.dumps({"max-frame-bytes": "1048576", "idle-timeout": 60}))


if __name__ == "__main__":
    main()
