"""``wsup train`` / jobs/train.py: train the end model named by a config's ``train:`` section."""

from __future__ import annotations

import argparse
import json
from typing import Any


def cmd_train(args: argparse.Namespace) -> int:
    """Load the config, train, print the metrics as JSON."""
    import os

    from wsup_spark.core.config import load_config
    from wsup_spark.endmodel.trainer import train_from_config

    cfg = load_config(args.config, args.overrides)
    metrics: dict[str, Any] = train_from_config(cfg.train, default_table=f"{cfg.output.path}/train")
    if int(os.environ.get("RANK", "0")) == 0:
        print(json.dumps(metrics, indent=2))
    return 0
