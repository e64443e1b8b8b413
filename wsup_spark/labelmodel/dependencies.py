"""LF dependencies: resolve declared pairs (names or indices) and group them into components.

LFs of one component are not conditionally independent given Y: the label model leaves their
co-occurrences out of the moment fit and splits one vote's weight between them. numpy only.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from wsup_spark.errors import ModelError


def resolve_dependencies(
    m: int,
    lf_names: Sequence[str] | None,
    dependencies: Iterable[tuple[int | str, int | str]] | None,
) -> list[tuple[int, int]]:
    """Sorted unique ``(i, j)`` index pairs, i < j, of the dependencies given by index or name.

    >>> resolve_dependencies(3, ["a", "b", "c"], [("c", 0), (1, "a")])
    [(0, 1), (0, 2)]
    """
    names = list(lf_names or [])
    out = []
    for pair in dependencies or ():
        idx = []
        for x in pair:
            if isinstance(x, str):
                if x not in names:
                    raise ModelError(f"dependency names LF {x!r}, which is not in the stats")
                idx.append(names.index(x))
            elif 0 <= int(x) < m:
                idx.append(int(x))
            else:
                raise ModelError(f"dependency {pair!r}: LF index {x} outside 0..{m - 1}")
        if len(idx) != 2 or idx[0] == idx[1]:
            raise ModelError(f"a dependency is a pair of two different LFs, got {pair!r}")
        out.append((min(idx), max(idx)))
    return sorted(set(out))


def dependency_components(m: int, dependencies: Iterable[tuple[int, int]]) -> np.ndarray:
    """(m,) component id of each LF in the graph of declared dependencies (union-find).

    Examples
    --------
    >>> dependency_components(5, [(0, 3), (3, 4)]).tolist()
    [0, 1, 2, 0, 0]
    """
    parent = list(range(m))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in dependencies:
        ri, rj = root(i), root(j)
        if ri != rj:
            parent[max(ri, rj)] = min(ri, rj)
    return np.array([root(i) for i in range(m)], np.int64)
