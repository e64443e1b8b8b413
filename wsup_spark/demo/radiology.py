"""Synthetic chest X-ray reports: NORMAL (0) vs ABNORMAL (1), the Snorkel talks' running example.

Every row is a pure function of (row id, seed) — counter-based random numbers (splitmix64 of
id, seed and a draw index) — so the corpus is identical however ids are split into batches or
partitions. Reports are assembled from phrase banks with realistic traps for LFs:

* negated findings in normal reports ("No focal consolidation or pneumothorax."),
* short normal reports, and short abnormal ones ("Large right pneumothorax."),
* hedged findings ("cannot be excluded"), prior-comparison phrases, "within normal limits".

Besides ``text`` and ``gold``, two numeric columns the LFs never read — ``patient_age`` and
``image_score`` (a noisy stand-in for an image model's output) — let an end model generalise
beyond the LFs.

Multi-task view (:func:`make_multitask_corpus`): an abnormal report's *finding type* — the type
of its first finding sentence (:data:`FINDING_TYPES`); N/A (null) for normal reports. The text is
the same; a second finding of another type, and normal sentences negating findings, are the traps.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from wsup_spark.spark.session import default_parallelism

NORMAL, ABNORMAL = 0, 1
CLASS_NAMES = ["NORMAL", "ABNORMAL"]
P_ABNORMAL = 0.4

NORMAL_SENTENCES = np.array(
    [
        "The lungs are clear.",
        "No focal consolidation, pleural effusion or pneumothorax.",
        "Heart size is within normal limits.",
        "Cardiomediastinal silhouette is normal.",
        "No acute cardiopulmonary process.",
        "Osseous structures are intact.",
        "Pulmonary vasculature is normal.",
        "The hila are unremarkable.",
        "Lungs are well expanded and clear.",
        "Trachea is midline.",
        "The diaphragm is normal in contour.",
        "There is no pneumothorax.",
        "Old healed left rib fracture.",
        "Mild degenerative changes of the thoracic spine.",
    ]
)
FILLER_SENTENCES = np.array(
    [
        "Comparison is made to the prior radiograph.",
        "PA and lateral views of the chest were obtained.",
        "Single portable AP view of the chest.",
        "Compared to prior, no significant change.",
        "Support devices are unchanged in position.",
    ]
)
FINDINGS = np.array(
    [
        "There is a right lower lobe consolidation concerning for pneumonia.",
        "Small left apical pneumothorax.",
        "Moderate bilateral pleural effusions.",
        "Cardiomegaly with mild pulmonary edema.",
        "Nodular opacity in the right upper lobe, a mass is not excluded.",
        "Atelectasis at the left lung base.",
        "Interval increase in the left pleural effusion.",
        "Patchy airspace opacities in both lower lobes.",
        "Displaced fracture of the right sixth rib.",
        "Enlarged cardiac silhouette.",
        "Hyperinflated lungs consistent with emphysema.",
    ]
)
SHORT_ABNORMAL = np.array(
    [
        "Large right pneumothorax.",
        "Cardiomegaly.",
        "Right lower lobe pneumonia.",
        "Bilateral pleural effusions.",
    ]
)
HEDGED = np.array(
    [
        "Early pneumonia cannot be excluded.",
        "Possible small effusion.",
        "Subtle opacity may represent atelectasis.",
    ]
)
#: Finding types of the multi-task demo (task ``finding``, defined when the report is ABNORMAL),
#: and the type of every finding sentence of the banks above.
FINDING_TYPES = ("pneumonia", "pneumothorax", "effusion", "cardiac", "other")
PNEUMONIA, PNEUMOTHORAX, EFFUSION, CARDIAC, OTHER = range(5)
FINDINGS_TYPE = np.array(
    [PNEUMONIA, PNEUMOTHORAX, EFFUSION, CARDIAC, OTHER, OTHER, EFFUSION, PNEUMONIA, OTHER, CARDIAC,
     OTHER]
)  # fmt: skip
SHORT_ABNORMAL_TYPE = np.array([PNEUMOTHORAX, CARDIAC, PNEUMONIA, EFFUSION])
HEDGED_TYPE = np.array([PNEUMONIA, EFFUSION, OTHER])
SHORT_NORMAL = np.array(
    [
        "No acute findings.",
        "Normal chest.",
        "Lungs clear. No effusion.",
        "No acute cardiopulmonary abnormality.",
    ]
)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser on uint64 arrays."""
    x = x + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return np.asarray(x ^ (x >> np.uint64(31)))


def _uniform(ids: np.ndarray, seed: int, draw: int) -> np.ndarray:
    """Deterministic U[0,1) per (id, seed, draw)."""
    with np.errstate(over="ignore"):
        h = _mix(
            _mix(ids.astype(np.uint64) ^ np.uint64(seed * 0x632BE59BD9B4E019 % 2**64))
            + np.uint64(draw * 0xD1B54A32D192ED03 % 2**64)
        )
    return (h >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def _pick(bank: np.ndarray, u: np.ndarray) -> np.ndarray:
    return bank[np.minimum((u * len(bank)).astype(np.int64), len(bank) - 1)]


def finding_types(ids: np.ndarray, seed: int = 0) -> np.ndarray:
    """(n,) int8: the finding type (:data:`FINDING_TYPES`) of each report's first finding
    sentence, -1 for normal reports — from the same draws as :func:`generate_reports`.

    Examples
    --------
    >>> r = generate_reports(np.arange(4), seed=0)
    >>> [(int(f), t.split(".")[0]) for f, t in zip(finding_types(np.arange(4)), r["text"])][:2]
    [(-1, 'Normal chest'), (4, 'Displaced fracture of the right sixth rib')]
    """
    ids = np.asarray(ids, dtype=np.int64)
    U = {j: _uniform(ids, seed, j) for j in (0, 1, 2, 5, 14)}
    ab = U[0] < P_ABNORMAL
    short = U[1] < np.where(ab, 0.06, 0.35)
    hedged = ab & (U[2] < 0.12)
    kind = np.where(hedged, _pick(HEDGED_TYPE, U[5]), _pick(FINDINGS_TYPE, U[5]))
    kind = np.where(short, _pick(SHORT_ABNORMAL_TYPE, U[14]), kind)
    return np.where(ab, kind, -1).astype(np.int8)


def generate_reports(ids: np.ndarray, seed: int = 0) -> dict[str, np.ndarray]:
    """Reports for the given row ids.

    Returns
    -------
    dict with ``id`` (n,) int64, ``text`` (n,) str, ``gold`` (n,) int8, ``patient_age`` (n,)
    float64, ``image_score`` (n,) float64.
    """
    ids = np.asarray(ids, dtype=np.int64)
    U = [_uniform(ids, seed, j) for j in range(16)]
    gold = (U[0] < P_ABNORMAL).astype(np.int8)
    ab = gold == 1
    # report shape: short (one sentence), regular, hedged abnormal
    short = U[1] < np.where(ab, 0.06, 0.35)
    hedged = ab & (U[2] < 0.12)
    lead = np.where(U[3] < np.where(ab, 0.7, 0.3), _pick(FILLER_SENTENCES, U[4]), "")
    finding = np.where(hedged, _pick(HEDGED, U[5]), _pick(FINDINGS, U[5]))
    second = np.where(U[6] < 0.45, _pick(FINDINGS, U[7]), "")
    normal1 = _pick(NORMAL_SENTENCES, U[8])
    normal2 = np.where(U[10] < 0.7, _pick(NORMAL_SENTENCES, U[9]), "")
    normal3 = np.where(U[10] < 0.25, _pick(NORMAL_SENTENCES, U[11]), "")
    tail = np.where(U[12] < 0.2, "No significant interval change.", "")
    # abnormal: lead + finding (+ second) + normal sentences; normal: 1-3 normal sentences
    parts = [
        lead,
        np.where(ab, finding, normal1),
        np.where(ab, second, normal2),
        np.where(ab, np.where(U[13] < 0.7, normal1, ""), normal3),
        np.where(ab, normal2, tail),
    ]
    text = np.array(
        [" ".join(s for s in row if s) for row in zip(*parts, strict=True)], dtype=object
    )
    short_text = np.where(ab, _pick(SHORT_ABNORMAL, U[14]), _pick(SHORT_NORMAL, U[14]))
    text = np.where(short, short_text, text)
    age = np.round(20 + 65 * U[15] ** np.where(ab, 0.6, 1.2), 1)
    noise = _uniform(ids, seed, 16) + _uniform(ids, seed, 17) - 1.0
    image_score = np.round(np.where(ab, 0.65, 0.35) + 0.35 * noise, 4)
    return {
        "id": ids,
        "text": text.astype(str),
        "gold": gold,
        "patient_age": age,
        "image_score": image_score,
    }


def make_corpus(
    spark: Any, n_rows: int = 100_000, seed: int = 0, num_partitions: int | None = None
) -> Any:
    """The demo corpus as a Spark DataFrame generated on the executors.

    ``spark.range(n).mapInArrow(...)``: each task generates its own ids' reports, so nothing but
    the row count leaves the driver. Columns: id long, text string, gold int, patient_age double,
    image_score double.
    """
    parts = num_partitions or default_parallelism(spark)

    def gen(batches: Iterator[Any]) -> Iterator[Any]:
        import pyarrow as pa

        for b in batches:
            cols = generate_reports(b.column("id").to_numpy(), seed)
            yield pa.RecordBatch.from_pydict(
                {
                    "id": pa.array(cols["id"], pa.int64()),
                    "text": pa.array(cols["text"], pa.string()),
                    "gold": pa.array(cols["gold"].astype(np.int32), pa.int32()),
                    "patient_age": pa.array(cols["patient_age"], pa.float64()),
                    "image_score": pa.array(cols["image_score"], pa.float64()),
                }
            )

    schema = "id long, text string, gold int, patient_age double, image_score double"
    return spark.range(0, int(n_rows), 1, parts).mapInArrow(gen, schema)


def make_multitask_corpus(
    spark: Any, n_rows: int = 100_000, seed: int = 0, num_partitions: int | None = None
) -> Any:
    """:func:`make_corpus` plus ``finding int`` (the finding type, null for normal reports): the
    corpus of the two-task demo (``conf/radiology_multitask.yaml``)."""
    parts = num_partitions or default_parallelism(spark)

    def gen(batches: Iterator[Any]) -> Iterator[Any]:
        import pyarrow as pa

        for b in batches:
            ids = b.column("id").to_numpy()
            cols = generate_reports(ids, seed)
            finding = finding_types(ids, seed)
            yield pa.RecordBatch.from_pydict(
                {
                    "id": pa.array(cols["id"], pa.int64()),
                    "text": pa.array(cols["text"], pa.string()),
                    "gold": pa.array(cols["gold"].astype(np.int32), pa.int32()),
                    "finding": pa.array(finding.astype(np.int32), pa.int32(), mask=finding < 0),
                    "patient_age": pa.array(cols["patient_age"], pa.float64()),
                    "image_score": pa.array(cols["image_score"], pa.float64()),
                }
            )

    schema = ("id long, text string, gold int, finding int, patient_age double, "
              "image_score double")  # fmt: skip
    return spark.range(0, int(n_rows), 1, parts).mapInArrow(gen, schema)
