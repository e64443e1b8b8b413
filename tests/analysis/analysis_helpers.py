"""Constants and helpers shared by the analysis tests (imported as ``analysis_helpers``: a
unique module name, so it cannot clash with another test folder's ``conftest``)."""

from __future__ import annotations

import json
import re
from typing import Any

DEMO_ROWS = 3000
BINS = 20


def report_json(html: str) -> dict[str, Any]:
    """The numbers embedded in a report."""
    m = re.search(
        r'<script type="application/json" id="wsup-report-data">(.*?)</script>', html, re.S
    )
    assert m, "report has no embedded data"
    return json.loads(m.group(1).replace("<\\/", "</"))  # type: ignore[no-any-return]
