"""The README's *From Python* section runs as written: its python code blocks, in order, in one
namespace, from the repository's root (where ``sample_data/`` is)."""

from __future__ import annotations

import contextlib
import io
import os
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def python_blocks(section: str) -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index(f"### {section}\n")
    end = min(i for i in (text.find("\n## ", start), text.find("\n### ", start + 4), len(text)) if i > 0)
    return re.findall(r"```python\n(.*?)```", text[start:end], flags=re.S)


def test_from_python_section_runs(monkeypatch):
    blocks = python_blocks("From Python")
    assert len(blocks) >= 2
    monkeypatch.chdir(ROOT)
    namespace: dict = {"__name__": "__readme__"}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        for block in blocks:
            exec(compile(block, "README.md (From Python)", "exec"), namespace)
    printed = out.getvalue()
    billed, per_day = namespace["billed"], namespace["per_day"]
    assert printed.startswith(f"{billed.invoice['amount_due']} RUB\n")
    # the analyst's groupby counts every billable session of the period once
    assert int(per_day.to_numpy().sum()) == sum(a["sessions"]["count"] for a in billed.invoice["accounts"])
    assert os.getcwd() == str(ROOT)
