"""The ``nucleusmem`` command, run as a subprocess against an embedded SQLite file."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

Run = Callable[..., subprocess.CompletedProcess[str]]


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("NUCLEUSMEM_")}


def _command(url: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "nucleusmem", "--url", url, *args]


@pytest.fixture
def url(tmp_path: Path) -> str:
    """A fresh embedded store for the test."""
    return f"sqlite://{tmp_path / 'x.db'}"


@pytest.fixture
def nm(url: str) -> Run:
    """Run ``nucleusmem`` on the test's store; fails the test on a non-zero exit."""

    def run(
        *args: str, stdin: str | None = None, status: int = 0
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            _command(url, *args),
            input=stdin,
            capture_output=True,
            text=True,
            env=_env(),
            timeout=60,
        )
        assert proc.returncode == status, (args, proc.stdout, proc.stderr)
        assert "Traceback" not in proc.stderr
        return proc

    return run


def test_records_time_travel_and_history(nm: Run) -> None:
    info = json.loads(nm("--json", "space", "create", "team", "--member", "bob=ro").stdout)
    assert info["owner"] == "local" and info["members"] == {"bob": "ro"}
    assert "team" in nm("space", "ls").stdout

    first = json.loads(nm("put", "team", "plan", "draft", "--agent", "ada", "--json").stdout)
    assert first["version"] == 1 and first["agent"] == "ada"
    assert nm("put", "team", "plan", "final", "--kind", "fact").stdout.startswith("rev ")
    nm("put", "team", "notes/a", "-", "--meta", "source=stdin", stdin="from stdin\n")

    assert nm("get", "team", "plan").stdout == "final\n"
    assert nm("get", "team", "plan", "--at", str(first["revision"])).stdout == "draft\n"
    assert nm("get", "team", "notes/a", "--json").stdout.count('"source": "stdin"') == 1

    listing = nm("ls", "team").stdout.splitlines()
    assert listing[0].split() == ["KEY", "REV", "VER", "TIME", "AGENT", "KIND", "CONTENT"]
    assert [line.split()[0] for line in listing[1:]] == ["notes/a", "plan"]
    old = json.loads(nm("ls", "team", "--at", str(first["revision"]), "--json").stdout)
    assert [(r["key"], r["content"]) for r in old] == [("plan", "draft")]
    assert len(json.loads(nm("ls", "team", "--limit", "1", "--json").stdout)) == 1

    versions = json.loads(nm("history", "team", "plan", "--json").stdout)
    assert [v["content"] for v in versions] == ["draft", "final"]
    diff = nm("diff", "team", str(first["revision"])).stdout.splitlines()
    assert diff[0].startswith("+ memory/notes/a") and diff[1].startswith("~ memory/plan")

    nm("rm", "team", "notes/a")
    assert json.loads(nm("history", "team", "notes/a", "--json").stdout)[-1]["deleted"] is True


def test_at_an_iso_time(nm: Run) -> None:
    nm("space", "create", "team")
    nm("put", "team", "plan", "before")
    moment = dt.datetime.now(dt.UTC)
    time.sleep(0.05)
    nm("put", "team", "plan", "after")
    naive_utc = moment.replace(tzinfo=None).isoformat()
    assert nm("get", "team", "plan", "--at", naive_utc).stdout == "before\n"
    assert nm("get", "team", "plan", "--at", moment.isoformat()).stdout == "before\n"
    assert nm("get", "team", "plan").stdout == "after\n"


def test_send_trace_and_watch(nm: Run, url: str) -> None:
    nm("space", "create", "team")
    nm("register", "team", "bob", "--role", "reviewer", "--cap", "review")
    assert "reviewer" in nm("agents", "team").stdout
    nm("put", "team", "plan", "ship it")
    direct = json.loads(nm("send", "team", "--from", "ada", "--to", "bob", "look", "--json").stdout)
    nm("send", "team", "--from", "ada", "--to", "bob", "--ref", "plan")
    nm("subscribe", "team", "bob", "news")
    nm("send", "team", "--from", "ada", "--topic", "news", "--key", "news/1", "hello all")

    log = json.loads(nm("trace", "team", "--json").stdout)
    assert [(m["to"], m["topic"], m["ref_key"]) for m in log] == [
        ("bob", None, direct["ref_key"]),
        ("bob", None, "plan"),
        (None, "news", "news/1"),
    ]
    assert len(json.loads(nm("trace", "team", "--topic", "news", "--json").stdout)) == 1

    seen = nm("watch", "team", "bob", "--count", "3", "--ack").stdout.splitlines()
    assert [line.split()[-1] for line in seen] == ["look", "it", "all"]
    assert "ada -> #news" in seen[2]

    # the cursor was stored: a new watch sees only what comes next, live or not
    watcher = subprocess.Popen(
        _command(url, "watch", "team", "bob", "--count", "1", "--json"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    try:
        nm("send", "team", "--from", "ada", "--to", "bob", "later")
        out, err = watcher.communicate(timeout=60)
    finally:
        watcher.kill()
    assert watcher.returncode == 0, err
    event = json.loads(out)
    assert event["content"] == "later" and event["message"]["sender"] == "ada"


def test_mounts(nm: Run) -> None:
    nm("space", "create", "team")
    assert (
        nm("mount", "planner", "team", "--mode", "ro").stdout.strip() == "planner mounted team (ro)"
    )
    assert json.loads(nm("mounts", "planner", "--json").stdout)[0]["mode"] == "ro"
    nm("unmount", "planner", "team")
    assert nm("mounts", "planner").stdout.strip() == "no mounts"


def test_search_and_per_space_recall_settings(nm: Run) -> None:
    nm("space", "create", "team")
    nm("put", "team", "db", "The billing database runs PostgreSQL 15 on the primary host")
    nm("put", "team", "hi", "hello there")
    nm("put", "team", "cache", "Redis caches the session tokens for thirty minutes")
    hits = json.loads(nm("--json", "search", "team", "billing database").stdout)
    assert hits[0]["key"] == "db" and hits[0]["revision"] >= 1
    assert nm("--json", "search", "team", "hello there", "--mode", "lexical").stdout == "[]\n"

    shown = nm("--json", "space", "recall", "team", "--skip-greetings", "off", "--min-chars", "off")
    settings = json.loads(shown.stdout)
    assert settings["skip_greetings"] is False and settings["min_chars"] is None
    assert settings["skip_tool_json"] is True  # what was not given stays as it was
    status = json.loads(nm("--json", "space", "index", "team").stdout)
    assert status["embedder"].startswith("hashing") and status["settings"] == settings
    assert "indexed_revision:" in nm("space", "index", "team").stdout
    hits = json.loads(nm("--json", "search", "team", "hello there", "--mode", "lexical").stdout)
    assert [h["key"] for h in hits] == ["hi"]  # greetings are indexed now

    unknown = nm("space", "recall", "team", "--embedder", "nosuch", status=1).stderr
    assert unknown.startswith("error: no embedder 'nosuch'")
    assert "min_chars" in nm("space", "recall", "team", "--min-chars", "-3", status=1).stderr
    assert nm("space", "index", "nosuch", status=1).stderr.startswith("error: space 'nosuch'")
    nm("space", "recall", "team", "--skip-greetings", "maybe", status=2)


def test_errors_exit_1_and_usage_errors_exit_2(nm: Run) -> None:
    nm("space", "create", "team")
    missing = nm("get", "team", "nope", status=1)
    assert missing.stderr == "error: record 'team/memory/nope' not found\n"
    assert nm("space", "create", "team", status=1).stderr.startswith("error: space 'team'")
    assert nm("get", "nosuch", "k", status=1).stderr.startswith("error: space 'nosuch'")
    assert nm("put", "team", "../bad", "x", status=1).stderr.startswith("error: ")
    assert nm("principal", "create", "bob", status=1).stderr.startswith("error: principal")
    nm("get", "team", status=2)
    nm("get", "team", "k", "--at", "yesterday", status=2)
    nm("send", "team", "--from", "ada", "--to", "bob", status=2)
    nm("send", "team", "--from", "ada", "--to", "bob", "one", "two", status=2)
    nm("ls", "team", "--region", "comm", status=2)


def test_principal_option_chooses_whom_an_embedded_client_acts_as(nm: Run) -> None:
    assert nm("whoami").stdout.strip() == "local"
    nm("--principal", "bob", "space", "create", "bobs", "--kind", "private")
    assert nm("space", "info", "bobs", "--principal", "bob").stdout.count("owner:       bob") == 1
    assert nm("space", "info", "bobs", status=1).stderr.startswith("error: principal 'local'")


def test_unknown_url_scheme(tmp_path: Path) -> None:
    proc = subprocess.run(
        _command("ftp://example", "space", "ls"),
        capture_output=True,
        text=True,
        env=_env(),
        timeout=60,
    )
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: unsupported store URL")
