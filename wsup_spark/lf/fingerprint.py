"""Stable fingerprints of LF code and data: what decides whether stored votes are still valid.

An LF's votes change when its code changes, and also when a value it reads changes without a
change of its own source: a template's parameters (the regex of a :func:`~wsup_spark.lf.templates.
regex_lf` lives in a closure), a module-level pattern or keyword set, a helper function it calls,
its resources, its preprocessors. :func:`value_digest` walks all of these (closures, referenced
globals, nested functions, containers) and never uses object ids, so the same LF gives the same
fingerprint in every process.
"""

from __future__ import annotations

import hashlib
import inspect
import re
import types
from typing import Any

#: How deep :func:`value_digest` follows functions called by functions.
MAX_DEPTH = 4
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def code_digest(func: Any, depth: int = 0, seen: set[int] | None = None) -> str:
    """Digest of a function: its source (or bytecode), closure values and referenced globals.

    >>> def make(word):
    ...     def f(x):
    ...         return word in x
    ...     return f
    >>> same, other = code_digest(make("a")), code_digest(make("b"))
    >>> same == code_digest(make("a")), same == other
    (True, False)
    """
    seen = set() if seen is None else seen
    if id(func) in seen or depth > MAX_DEPTH:
        return getattr(func, "__qualname__", type(func).__name__)
    seen.add(id(func))
    fn = inspect.unwrap(func) if callable(func) else func
    if isinstance(fn, types.MethodType):
        return value_digest(fn.__self__, depth + 1, seen) + code_digest(fn.__func__, depth, seen)
    code = getattr(fn, "__code__", None)
    if code is None:  # a callable object: its class's __call__ and its attributes
        if callable(fn) and not isinstance(fn, type):
            call = type(fn).__call__
            attrs = getattr(fn, "__dict__", {})
            return code_digest(call, depth + 1, seen) + value_digest(attrs, depth + 1, seen)
        return _stable_repr(fn)
    parts = [_source(fn, code)]
    for cell in getattr(fn, "__closure__", None) or ():
        try:
            parts.append(value_digest(cell.cell_contents, depth + 1, seen))
        except ValueError:  # an empty cell
            parts.append("<empty>")
    env = getattr(fn, "__globals__", {})
    for name in sorted(_global_names(code)):
        if name in env:
            parts.append(f"{name}={value_digest(env[name], depth + 1, seen)}")
    for key in ("__defaults__", "__kwdefaults__"):
        if getattr(fn, key, None):
            parts.append(value_digest(getattr(fn, key), depth + 1, seen))
    return _sha("\x1f".join(parts))


def value_digest(v: Any, depth: int = 0, seen: set[int] | None = None) -> str:
    """Digest of a value an LF reads (no object ids; sets and dicts in sorted order).

    >>> value_digest({"b": 1, "a": [1, 2]}) == value_digest({"a": [1, 2], "b": 1})
    True
    >>> value_digest(re.compile("x", re.I)) != value_digest(re.compile("x"))
    True
    """
    seen = set() if seen is None else seen
    if v is None or isinstance(v, (bool, int, float, complex, str, bytes)):
        return repr(v) if len(repr(v)) <= 200 else _sha(repr(v))
    if isinstance(v, re.Pattern):
        return f"re({v.pattern!r},{v.flags})"
    if isinstance(v, types.ModuleType):
        return f"module:{v.__name__}"
    if isinstance(v, type):
        return f"class:{v.__module__}.{v.__qualname__}"
    if isinstance(v, (types.FunctionType, types.MethodType, types.BuiltinFunctionType)):
        if isinstance(v, types.BuiltinFunctionType):
            return f"builtin:{getattr(v, '__module__', '')}.{v.__qualname__}"
        return code_digest(v, depth, seen)
    fp = getattr(v, "fingerprint", None)
    if isinstance(fp, str) and not isinstance(v, type):  # a LabelingFunction (or alike)
        return f"fp:{fp}"
    if isinstance(v, (list, tuple)):
        return _sha("[" + ",".join(value_digest(x, depth, seen) for x in v) + "]")
    if isinstance(v, (set, frozenset)):
        return _sha("{" + ",".join(sorted(value_digest(x, depth, seen) for x in v)) + "}")
    if isinstance(v, dict):
        items = sorted(f"{value_digest(k, depth, seen)}:{value_digest(x, depth, seen)}"
                       for k, x in v.items())  # fmt: skip
        return _sha("{" + ",".join(items) + "}")
    tobytes = getattr(v, "tobytes", None)
    if callable(tobytes) and hasattr(v, "dtype") and hasattr(v, "shape"):  # numpy arrays
        return _sha(f"{v.dtype}{v.shape}".encode().hex() + hashlib.sha1(tobytes()).hexdigest())
    return _sha(f"{type(v).__module__}.{type(v).__qualname__}:{_stable_repr(v)}")


def _source(fn: Any, code: types.CodeType) -> str:
    try:
        return inspect.getsource(fn)
    except (OSError, TypeError):
        return f"{code.co_qualname if hasattr(code, 'co_qualname') else code.co_name}:" + \
            code.co_code.hex() + repr(code.co_consts)  # fmt: skip


def _global_names(code: types.CodeType) -> set[str]:
    """Names a code object (and the functions/comprehensions defined in it) loads."""
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _global_names(const)
    return names


def _stable_repr(v: Any) -> str:
    r = _ADDRESS.sub("", repr(v))
    return r if len(r) <= 10_000 else hashlib.sha1(r.encode()).hexdigest()


def _sha(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]
