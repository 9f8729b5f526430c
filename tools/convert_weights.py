#!/usr/bin/env python3
"""PaddleClas .pdparams -> safetensors, without importing paddle.

A .pdparams file (for example PaddleClas's TNT_small_pretrained.pdparams) is a pickle written
by `paddle.save`: a dict from parameter name to numpy array, plus Paddle's bookkeeping entry
"StructuredToParameterName@@". The unpickler below builds numpy arrays and plain containers
only; anything else in the pickle (code, other classes) is refused.

    python3 tools/convert_weights.py TNT_small_pretrained.pdparams models/tnt_small/weights.safetensors
"""
import argparse
import collections
import pickle
import sys

import numpy as np
from safetensors.numpy import save_file

ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("collections", "OrderedDict"), ("builtins", "dict"), ("builtins", "list"), ("builtins", "tuple"),
}


class ArraysOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) not in ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a weights file")
        if module.startswith("numpy"):
            return getattr(sys.modules.get(module) or __import__(module, fromlist=[name]), name)
        return getattr(collections if module == "collections" else __import__(module), name)


def load_pdparams(path):
    with open(path, "rb") as f:
        state = ArraysOnlyUnpickler(f).load()
    if not isinstance(state, dict):
        raise ValueError(f"{path}: expected a dict of parameters, found {type(state).__name__}")
    tensors = {}
    for name, value in state.items():
        if name == "StructuredToParameterName@@":
            continue
        if not isinstance(value, np.ndarray):
            raise ValueError(f"{path}: entry {name!r} is a {type(value).__name__}, not an array")
        if value.dtype != np.float32:
            raise ValueError(f"{path}: entry {name!r} has dtype {value.dtype}; TNT weights are float32")
        tensors[name] = np.ascontiguousarray(value)
    return tensors


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("pdparams")
    parser.add_argument("output")
    args = parser.parse_args()
    tensors = load_pdparams(args.pdparams)
    save_file(tensors, args.output, metadata={"source": args.pdparams.rsplit("/", 1)[-1]})
    count = sum(t.size for t in tensors.values())
    print(f"{len(tensors)} tensors, {count} parameters -> {args.output}")


if __name__ == "__main__":
    main()
