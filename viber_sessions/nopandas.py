"""pyarrow without pandas, in a process that never hands pandas objects to pyarrow.

pyarrow looks for pandas the first time it converts a Python value (``pa.array``, a scalar
argument of a compute function, ...) and imports it then: 0.15-0.25 CPU-seconds, the largest
import of an explanation, which its readers wait for. pyarrow also runs where pandas is not
installed, and it remembers the answer of that first look: :func:`skip` makes the look find
no pandas (an import refused once, by a finder that is in place only while pyarrow looks), so
pyarrow converts Python values as it does without pandas, and nothing imports pandas. A call
that needs pandas (``to_pandas``, ``Table.from_pandas``) still imports it: pyarrow tries again
an import it needs (``_check_import`` in pyarrow's ``pandas-shim.pxi``), and knows pandas from
then on. Code that hands pandas objects to ``pa.array`` calls :func:`restore` first (the Dask
engine, the pandas API), so that pyarrow sees them as pandas objects.

Only the console script calls :func:`skip` (``cli.main``): a library caller's pyarrow is never
touched.
"""

from __future__ import annotations

import sys

_SKIPPED = {"on": False}


class _NoPandas:
    """A finder that refuses ``pandas`` (it is in sys.meta_path only inside :func:`skip`)."""

    def find_spec(self, name, path=None, target=None):
        if name == "pandas":
            raise ImportError("pandas is not imported by this process (viber_sessions.nopandas)")
        return None


def skip() -> bool:
    """Make pyarrow's first look for pandas find none, unless pandas or that look came first;
    True when it did (pyarrow then imports pandas only for a call that needs it)."""
    import pyarrow as pa

    if "pandas" in sys.modules or _SKIPPED["on"]:
        return _SKIPPED["on"]
    finder = _NoPandas()
    sys.meta_path.insert(0, finder)
    try:
        pa.array([0])                       # the first conversion: pyarrow looks for pandas here
    finally:
        sys.meta_path.remove(finder)
    _SKIPPED["on"] = "pandas" not in sys.modules
    return _SKIPPED["on"]


def skipped() -> bool:
    """Whether :func:`skip` made pyarrow's look find no pandas (and :func:`restore` did not
    undo it)."""
    return _SKIPPED["on"]


def restore() -> None:
    """Let pyarrow know pandas again (importing it): before pandas objects are handed to it."""
    if _SKIPPED["on"]:
        import pyarrow as pa

        pa.array([], pa.int64()).to_pandas()    # a call that needs pandas: pyarrow imports it now
        _SKIPPED["on"] = False


def before_conversions() -> None:
    """Import pandas now, unless :func:`skip` keeps pyarrow from doing it. pyarrow's own import of
    pandas runs inside compiled code that loses a Ctrl-C raised while it waits for another
    thread's import of pandas; imported by the caller, the wait is the caller's, and a signal
    ends the run as it should."""
    if not _SKIPPED["on"]:
        import pandas  # noqa: F401


def wanted() -> tuple[str, ...]:
    """The modules a run should import ahead (on a thread) before pyarrow converts a value:
    pandas, unless :func:`skip` keeps pyarrow from needing it."""
    return () if _SKIPPED["on"] else ("pandas",)
