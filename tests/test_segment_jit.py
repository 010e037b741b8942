"""viber_sessions.segment.jit: the kernels as Python give exactly what the compiled kernels give."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from viber_sessions.segment import jit, load_kernels, segment
from viber_sessions.segment import kernel as kernel_module
from viber_sessions.segment import parallel
from viber_sessions.tariff import parse_tariff

from test_properties import limits, logs, to_table

ARRAYS = ("billing", "reason", "session", "s_business", "s_subscriber", "s_start", "s_origin", "s_close",
          "s_inbound", "s_outbound", "s_billable", "s_first")

PLANS = parse_tariff({
    "currency": "RUB", "monthly_fee": "100.00", "session_price": "1.20", "inbound_price": "0.05",
    "outbound_prices": {"text": "0.85", "image": "1.10", "video": "1.5", "default": "2.00"},
    "accounts": {"007": {"limits": {"max_business_messages": 2, "max_unanswered": 1, "window_hours": 1}},
                 "shop": {"sessions": False}},
})


def arrays(seg) -> dict:
    return {name: np.asarray(getattr(seg, name)).tolist() for name in ARRAYS} | {"data_end": seg.data_end}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=logs(max_rows=80, spread=200), lim=st.one_of(limits(), st.just(PLANS)))
def test_python_kernels_equal_compiled_ones(rows, lim):
    load_kernels()
    table = to_table(rows)
    compiled = arrays(segment(table, lim))
    with jit.uncompiled():
        assert not jit.is_compiled()
        python = arrays(segment(table, lim))
    assert python == compiled


def test_uncompiled_puts_the_compiled_functions_back():
    load_kernels()
    before = kernel_module._open
    assert not isinstance(before, jit.Kernel)              # numba's function, in the module
    with jit.uncompiled():
        assert isinstance(kernel_module._open, jit.Kernel)
        assert parallel.threads() == 1
    assert kernel_module._open is before
    assert jit.is_compiled()


def test_interpreted_is_for_the_calling_thread_and_the_block_only():
    calls = []
    k = jit.compiled(cache=False)(lambda x: calls.append(x) or x + 1)
    try:
        with jit.interpreted():
            assert k(1) == 2 and calls == [1]   # not compiled: the Python ran
            assert jit.interpreting()
            elsewhere = []
            thread = threading.Thread(target=lambda: elsewhere.append(jit.interpreting()))
            thread.start()
            thread.join()
            assert elsewhere == [False]
            with jit.interpreted(False):        # no change inside
                assert jit.interpreting()
        assert not jit.interpreting()
        with jit.interpreted(False):
            assert not jit.interpreting()
    finally:
        jit._registered.remove(k)


def test_a_small_segmentation_as_python_does_not_start_numba():
    code = textwrap.dedent("""
        import sys
        from viber_sessions.segment import jit, segment
        from viber_sessions.tariff import Limits
        import pyarrow as pa
        B = 1_791_000_000 * 10**9
        t = pa.table({"message_id": ["a", "b", "a"],
                      "timestamp": pa.array([B, B + 10**9, B + 2 * 10**9], pa.timestamp("ns", "UTC")),
                      "business_id": ["shop"] * 3, "subscriber_id": ["+79001234567"] * 3,
                      "direction": ["inbound", "outbound", "outbound"], "message_type": ["text"] * 3})
        with jit.interpreted():
            seg = segment(t, Limits())
        print(seg.billing.tolist(), seg.session.tolist(), "numba" in sys.modules)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out[-1] == "False"                   # numba was never imported
    assert " ".join(out[:-1]) == "[0, 0, 2] [0, 0, -1]"      # session, session, duplicate

