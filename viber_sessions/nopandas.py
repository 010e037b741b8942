"""pyarrow without pandas, for ``viber-sessions explain``.

pyarrow looks for pandas the first time it converts a Python value (``pa.array``, a scalar
argument of a compute function, ...) and imports it then: 0.15-0.25 CPU-seconds, the largest
import of an explanation, paid while its readers wait for their first turn. :func:`skip` makes
that look find no pandas (an import refused once, by a finder that is in sys.meta_path only
while pyarrow looks): pyarrow then works as where pandas is not installed, for the rest of the
process, and nothing imports pandas.

That cannot be undone, and it changes what pyarrow does with pandas' own objects and with
temporal values: a pandas object handed to ``pa.array`` or ``Table.from_pandas`` is converted as
a plain sequence (categories, NaN as null and nanoseconds are lost), ``pd.NA`` and ``pd.NaT`` are
not recognised, and a timestamp's ``as_py()`` gives a ``datetime`` (whole microseconds only, an
error otherwise) instead of a ``pd.Timestamp``. So only the console script calls it, and only for
``explain`` (``cli.main``), whose whole path converts strings, integers and numpy arrays only and
shows instants as text made by Arrow (``timeutil.iso_utc``): tests run it with the console
script and check that pandas is never imported and that the answer is the one of a run with
pandas. A library caller's pyarrow is never touched.
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
    True when it did."""
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
    """Whether :func:`skip` made pyarrow's look find no pandas in this process."""
    return _SKIPPED["on"]


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
