"""Progress of driver-side work: a tqdm bar in a terminal, plain log lines otherwise.

Spark stages report themselves through job descriptions (the Spark UI); driver-side steps (fitting,
computing and drawing the report) use :class:`Progress`::

    with Progress(3, "report") as progress:
        progress.step("LF summary")
        ...
        progress.step("plots")
"""

from __future__ import annotations

import logging
import sys
import time
from types import TracebackType
from typing import IO, Any

logger = logging.getLogger(__name__)


def is_interactive(stream: IO[str] | None = None) -> bool:
    """Whether ``stream`` (default stderr) is a terminal."""
    stream = sys.stderr if stream is None else stream
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # closed or replaced streams (pytest capture, notebooks)
        return False


class Progress:
    """Counts named steps; a tqdm bar when interactive, else one INFO log line per step.

    Parameters
    ----------
    total : int
        Number of steps expected.
    desc : str
        What the steps belong to (the bar's label / the log prefix).
    interactive : bool, optional
        Force the bar on or off; default: stderr is a terminal.
    log : logging.Logger, optional
        Where the plain lines go (default: this module's logger).
    """

    def __init__(
        self,
        total: int,
        desc: str,
        interactive: bool | None = None,
        log: logging.Logger | None = None,
    ) -> None:
        self.total = int(total)
        self.desc = desc
        self.done = 0
        self.log = log or logger
        self.interactive = is_interactive() if interactive is None else interactive
        self._bar: Any = None
        self._t0 = time.perf_counter()
        if self.interactive:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=self.total, desc=desc, unit="step", leave=False, file=sys.stderr)

    def step(self, name: str) -> None:
        """Start step ``name`` (closes the previous one)."""
        if self._bar is not None:
            if self.done:
                self._bar.update(1)
            self._bar.set_postfix_str(name, refresh=True)
        else:
            self.log.info("%s [%d/%d] %s", self.desc, self.done + 1, self.total, name)
        self.done += 1

    def close(self) -> None:
        """Finish: close the bar (or log the total time)."""
        elapsed = time.perf_counter() - self._t0
        if self._bar is not None:
            if self.done:
                self._bar.update(1)
            self._bar.close()
            self._bar = None
        self.log.info("%s: %d steps in %.1f s", self.desc, self.done, elapsed)

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
