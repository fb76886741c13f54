"""The README's example runs as written (on a temporary file instead of /tmp)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)


def test_readme_quickstart_runs(capsys: pytest.CaptureFixture[str]) -> None:
    exec(compile(_python_blocks()[0], "README.md", "exec"), {"__name__": "readme"})
    out = capsys.readouterr().out
    assert "planner -> ship the parser on Monday" in out
    assert "before: ship the parser on Friday" in out


def test_readme_storage_example_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = _python_blocks()[1].replace("/tmp/agents.db", str(tmp_path / "agents.db"))
    exec(compile(code, "README.md", "exec"), {"__name__": "readme"})
    assert (tmp_path / "agents.db").exists()
    assert "key=b'space/comm/bob'" in capsys.readouterr().out
