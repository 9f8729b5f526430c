#!/usr/bin/env python3
"""models/imagenet1k_labels.txt: PaddleClas's ppcls/utils/imagenet1k_label_list.txt (read from
the paddleclas wheel) as TNTServe's labels format, one name per line, in class-id order. The
TNT_small and TNT_base entries of a repository point their "labels" at it."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import paddleclas_source  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

lines = paddleclas_source.read("ppcls/utils/imagenet1k_label_list.txt").splitlines()
names = []
for expected, line in enumerate(lines):
    index, name = line.split(" ", 1)
    assert int(index) == expected, line
    names.append(name.strip())
assert len(names) == 1000
with open(os.path.join(ROOT, "models", "imagenet1k_labels.txt"), "w") as f:
    f.write("\n".join(names) + "\n")
print(f"{len(names)} labels -> models/imagenet1k_labels.txt")
