"""The README's example runs as written (on a temporary file instead of /tmp)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_readme_example_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = (ROOT / "README.md").read_text()
    block = re.search(r"```python\n(.*?)```", text, re.S)
    assert block is not None
    code = block.group(1).replace("/tmp/agents.db", str(tmp_path / "agents.db"))
    exec(compile(code, "README.md", "exec"), {"__name__": "readme"})
    assert (tmp_path / "agents.db").exists()
    assert "key=b'space/comm/bob'" in capsys.readouterr().out
