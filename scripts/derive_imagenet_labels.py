"""Regenerate toolkit/mobilekit/data/imagenet_labels.txt from torchvision's wheel.

The ImageNet-1k class names (in the standard synset order that keras.applications
and torchvision share) come from `_IMAGENET_CATEGORIES` in torchvision's
`torchvision/models/_meta.py`. The wheel is only read, never imported (torchvision
needs PyTorch), so this runs anywhere:

    pip download --no-deps torchvision -d /tmp/tv
    python scripts/derive_imagenet_labels.py /tmp/tv/torchvision-*.whl
"""

from __future__ import annotations

import ast
import pathlib
import sys
import zipfile

TARGET = pathlib.Path(__file__).resolve().parents[1] / "toolkit/mobilekit/data/imagenet_labels.txt"


def categories(wheel: str) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        source = archive.read("torchvision/models/_meta.py").decode()
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and any(
            getattr(target, "id", None) == "_IMAGENET_CATEGORIES" for target in node.targets
        ):
            return list(ast.literal_eval(node.value))
    raise SystemExit("torchvision/models/_meta.py has no _IMAGENET_CATEGORIES")


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    labels = categories(argv[0])
    if len(labels) != 1000:
        raise SystemExit(f"expected 1000 ImageNet classes, found {len(labels)}")
    TARGET.write_text("\n".join(labels) + "\n")
    print(f"wrote {len(labels)} labels to {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
