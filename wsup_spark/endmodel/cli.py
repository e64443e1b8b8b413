"""``wsup train`` and ``jobs/train.py``: train the end model of a config's ``train:`` section."""

from __future__ import annotations

import argparse
import json
import logging
import os
from typing import Any

from wsup_spark.config import load_config


def cmd_train(args: argparse.Namespace) -> int:
    """Load the config (``--config``, ``--set`` overrides), train, print the metrics as JSON.

    Under torchrun only rank 0 prints. ``train.table`` defaults to ``<output.path>/train``.
    """
    from wsup_spark.endmodel.trainer import train_from_config  # torch: imported when training

    if int(os.environ.get("RANK", "0")) != 0:  # torchrun: one rank logs progress
        logging.getLogger("wsup_spark").setLevel(logging.WARNING)
    cfg = load_config(args.config, args.overrides)
    metrics: dict[str, Any] = train_from_config(cfg)
    if int(os.environ.get("RANK", "0")) == 0:
        print(json.dumps(metrics, indent=2, default=str))
    return 0
