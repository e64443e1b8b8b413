"""One error hierarchy for the whole package.

Every error is a :class:`WsupError` and also a builtin exception of the matching kind, so callers
can catch either ``WsupError`` or e.g. ``ValueError``. Messages name the argument, LF or column,
the offending value, and the fix.
"""

from __future__ import annotations


class WsupError(Exception):
    """Base class of every error raised by wsup_spark."""


class ConfigError(WsupError, ValueError):
    """A configuration value is missing, malformed, or names something that does not exist."""


class LFError(WsupError, ValueError):
    """A labeling function is malformed, returned an invalid vote, or raised."""


class DataError(WsupError, ValueError):
    """The input corpus or a table does not have the expected shape, columns or types."""


class StatsError(WsupError, ValueError):
    """LF statistics are inconsistent (shape mismatch, merging incompatible partials, ...)."""


class ModelError(WsupError, RuntimeError):
    """The label model cannot be fit or used (not fitted, degenerate statistics, ...)."""


class WriteError(WsupError, RuntimeError):
    """Writing or committing a table failed; the table is left at its previous version."""
