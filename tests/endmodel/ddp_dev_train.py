"""Run by ``torchrun`` from test_dev_selection.py: dev-split selection and early stopping under
DDP; every rank records its metrics, the ids it trained on and its final weights.

torchrun --nproc_per_node=2 tests/endmodel/ddp_dev_train.py TABLE OUT_DIR
"""

from __future__ import annotations

import json
import os
import sys

import torch

from wsup_spark.endmodel.config import TrainConfig
from wsup_spark.endmodel.trainer import train


class Tiny(torch.nn.Module):
    """Logistic regression on the numeric ``score`` column (class + noise)."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = torch.nn.Linear(1, 2)

    def forward(self, batch):
        return self.lin(batch["numeric"])


def main() -> None:
    table, out = sys.argv[1], sys.argv[2]
    torch.manual_seed(0)
    model = Tiny()
    seen: list[int] = []
    saved: dict[str, torch.Tensor] = {}

    def hook(epoch, batch):
        seen.extend(batch["id"].tolist())
        if epoch >= 2:  # from the third epoch on, every step starts from inverted weights
            with torch.no_grad():
                if not saved:
                    saved.update({k: v.clone() for k, v in model.state_dict().items()})
                for name, p in model.named_parameters():
                    p.copy_(-saved[name])

    cfg = TrainConfig(table=table, model="numeric", numeric_cols=("score",), epochs=8,
                      batch_size=64, lr=0.01, progress="log", dev_mod=4, patience=2)  # fmt: skip
    res = train(cfg, model=model, on_batch=hook)
    rank = os.environ["RANK"]
    torch.save(res.model.state_dict(), os.path.join(out, f"rank{rank}.pt"))
    with open(os.path.join(out, f"rank{rank}.json"), "w") as f:
        json.dump({"seen": seen, "metrics": res.metrics}, f)


if __name__ == "__main__":
    main()
