"""The Pareto front of (latency, accuracy) points: nothing else is both at least as fast and at least as accurate."""

from __future__ import annotations


def front(points) -> list[int]:
    """Indices of the points on the front (lower latency and higher accuracy are better), fastest first.

    A point is on the front when no other point is at least as fast and at least
    as accurate while strictly better in one of the two. Of identical points, the first is kept.
    """
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1], i))
    chosen, best = [], float("-inf")
    for i in order:
        if points[i][1] > best:
            chosen.append(i)
            best = points[i][1]
    return chosen
