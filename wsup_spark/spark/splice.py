"""Build a new votes table from stored votes: keep unchanged LF columns, splice in recomputed ones.

An incremental run (README "Incremental runs") applies only the new or changed LFs; the votes of
the unchanged LFs come from the stored int8 votes. :func:`splice_transform` reassembles each row's
vote array in the new LF order from the stored array (``votes``) and the recomputed one
(``new_votes``, when some LFs were recomputed), batch by batch with numpy.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from wsup_spark.io.base import BatchTransform
from wsup_spark.lf.base import ABSTAIN, vote_dtype
from wsup_spark.spark.apply import (
    VOTES_COL,
    add_constant_fields,
    append_constants,
    arrow_votes_matrix,
    votes_schema,
    votes_to_arrow,
)

#: Column of the recomputed LFs' votes in the frame :func:`splice_transform` reads.
NEW_VOTES_COL = "new_votes"


def splice_matrix(
    old: np.ndarray,
    new: np.ndarray | None,
    keep: Sequence[tuple[int, int]],
    compute: Sequence[int],
    m: int,
    cardinality: int,
) -> np.ndarray:
    """The (n, m) votes in the new LF order.

    Parameters
    ----------
    old : (n, m_old) int
        Stored votes.
    new : (n, len(compute)) int or None
        Votes of the recomputed LFs, in ``compute`` order (None when nothing was recomputed).
    keep : sequence of (new position, stored position)
    compute : sequence of int
        New positions of the recomputed LFs.

    >>> old = np.array([[0, 1, -1], [1, -1, 0]], np.int8)
    >>> splice_matrix(old, np.array([[1], [0]], np.int8), [(0, 1), (2, 0)], [1], 3, 2)
    array([[ 1,  1,  0],
           [-1,  0,  1]], dtype=int8)
    """
    L = np.full((old.shape[0], m), ABSTAIN, dtype=vote_dtype(cardinality))
    if keep:
        dst, src = (list(t) for t in zip(*keep, strict=True))
        L[:, dst] = old[:, src]
    if compute:
        assert new is not None
        L[:, list(compute)] = new
    return L


def splice_transform(
    df: Any,
    m_old: int,
    keep: Sequence[tuple[int, int]],
    compute: Sequence[int],
    m: int,
    cardinality: int,
    carry: Sequence[str] = (),
    constants: Mapping[str, str] | None = None,
) -> BatchTransform:
    """``df`` (``id, votes[, new_votes], *carry``) → the votes schema ``(id, votes, *carry,
    *constants)`` with each row's votes in the new LF order (see :func:`splice_matrix`)."""
    consts = dict(constants or {})
    schema = votes_schema(df.schema["id"].dataType, cardinality)
    for c in carry:
        schema = schema.add(df.schema[c])
    schema = add_constant_fields(schema, consts)
    keep, compute, carry = list(keep), list(compute), list(carry)

    def splice_partition(batches: Iterator[Any]) -> Iterator[Any]:
        for b in batches:
            old = arrow_votes_matrix(b, m_old, VOTES_COL)
            new = arrow_votes_matrix(b, len(compute), NEW_VOTES_COL) if compute else None
            out = votes_to_arrow(b.column("id"), splice_matrix(old, new, keep, compute, m,
                                                               cardinality))  # fmt: skip
            for c in carry:
                out = out.append_column(c, b.column(c))
            yield append_constants(out, consts)

    return BatchTransform(splice_partition, schema)
