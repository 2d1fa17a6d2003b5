"""Damaged copies of a file, the same on every run: cuts at many lengths and random bit flips.

A failing case is named by its label (the cut length, or the flip number with
FUZZ_SEED), so it can be rebuilt with `damaged_copies(data)[label]`.
"""

from __future__ import annotations

import numpy as np

FUZZ_SEED = 20261204


def damaged_copies(data: bytes, *, seed: int = FUZZ_SEED, cuts: int = 48, flips: int = 160) -> dict[str, bytes]:
    """{label: damaged bytes}: `cuts` truncations spread over the file (plus the first and last
    few bytes) and `flips` copies with one to four random bits flipped."""
    size = len(data)
    lengths = {int(n) for n in np.linspace(0, size - 1, cuts)} | {4, 8, 12, size - 1, size - 2, size - 22}
    copies = {f"cut to {n} of {size} bytes": data[:n] for n in sorted(lengths) if 0 <= n < size}
    rng = np.random.default_rng(seed)
    for index in range(flips):
        damaged = bytearray(data)
        for _ in range(int(rng.integers(1, 5))):
            damaged[int(rng.integers(size))] ^= 1 << int(rng.integers(8))
        copies[f"flip {index} (seed {seed})"] = bytes(damaged)
    return copies
