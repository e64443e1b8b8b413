"""Run by ``torchrun`` from test_ddp.py: train with DDP and record the ids every rank trained on.

torchrun --nproc_per_node=2 tests/endmodel/ddp_train.py TABLE OUT_DIR NUM_WORKERS
"""

from __future__ import annotations

import json
import os
import sys

from wsup_spark.endmodel.config import TrainConfig
from wsup_spark.endmodel.trainer import train


def main() -> None:
    table, out, workers = sys.argv[1], sys.argv[2], int(sys.argv[3])
    seen: dict[int, list[int]] = {}

    def record(epoch, batch):
        seen.setdefault(epoch, []).extend(batch["id"].tolist())

    cfg = TrainConfig(table=table, model="text_numeric", numeric_cols=("score",), epochs=2,
                      batch_size=64, buckets=2048, dim=8, lr=0.02, num_workers=workers,
                      char_ngrams=(3, 4), progress="log", checkpoint_dir=f"{out}/ck")  # fmt: skip
    res = train(cfg, on_batch=record)
    with open(os.path.join(out, f"rank{os.environ['RANK']}.json"), "w") as f:
        json.dump({"seen": seen, "metrics": res.metrics}, f)


if __name__ == "__main__":
    main()
