"""tools/convert_weights.py against files written by paddle.save itself."""
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest
from safetensors.numpy import load_file

TOOLS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, TOOLS)


def run_converter(source, output, tmp_path):
    # A `paddle` package that cannot be imported proves the converter never imports it.
    blocker = tmp_path / "blocker" / "paddle"
    blocker.mkdir(parents=True, exist_ok=True)
    (blocker / "__init__.py").write_text("raise ImportError('convert_weights must not import paddle')\n")
    env = dict(os.environ, PYTHONPATH=str(blocker.parent))
    return subprocess.run([sys.executable, os.path.join(TOOLS, "convert_weights.py"), str(source), str(output)],
                          env=env, capture_output=True, text=True)


def test_converts_a_tnt_saved_by_paddle(tmp_path):
    import paddle
    from paddleclas_source import load_tnt_module

    paddle.seed(3)
    model = load_tnt_module().TNT(img_size=64, embed_dim=128, in_dim=8, depth=2, num_heads=2,
                                  in_num_head=2, class_num=10)
    source = tmp_path / "tiny.pdparams"
    paddle.save(model.state_dict(), str(source))

    result = run_converter(source, tmp_path / "tiny.safetensors", tmp_path)
    assert result.returncode == 0, result.stderr
    converted = load_file(str(tmp_path / "tiny.safetensors"))
    expected = {name: t.numpy() for name, t in model.state_dict().items()}
    assert set(converted) == set(expected)
    for name, value in expected.items():
        assert converted[name].dtype == np.float32
        np.testing.assert_array_equal(converted[name], value, err_msg=name)


def test_refuses_code_in_the_pickle(tmp_path):
    class Exploit:
        def __reduce__(self):
            return (os.system, ("echo pwned > " + str(tmp_path / "pwned"),))

    source = tmp_path / "evil.pdparams"
    source.write_bytes(pickle.dumps({"weight": Exploit()}))
    result = run_converter(source, tmp_path / "out.safetensors", tmp_path)
    assert result.returncode != 0
    assert "refusing to load" in result.stderr
    assert not (tmp_path / "pwned").exists()


def test_refuses_non_float32(tmp_path):
    source = tmp_path / "f64.pdparams"
    source.write_bytes(pickle.dumps({"head.weight": np.zeros((2, 2), dtype=np.float64)}))
    result = run_converter(source, tmp_path / "out.safetensors", tmp_path)
    assert result.returncode != 0
    assert "float64" in result.stderr
