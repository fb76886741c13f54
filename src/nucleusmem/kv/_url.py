"""Open a store by URL: ``memory://``, ``sqlite:///path``, ``etcd://host:port,...``."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

from nucleusmem.errors import UnsupportedURL
from nucleusmem.kv._store import Store
from nucleusmem.kv._types import Limits

__all__ = ["open_store", "parse_endpoints"]


def open_store(url: str, *, limits: Limits | None = None) -> Store:
    """Open the store a URL names.

    - ``memory://``: in this process only.
    - ``sqlite:///abs/path.db`` or ``sqlite://relative/path.db``: a SQLite file,
      created if missing; several processes may share it.
    - ``etcd://host:port[,host:port...]``: an etcd v3 cluster (needs the ``etcd`` extra).
      ``?timeout_s=N`` sets the per-request deadline.
    """
    if not isinstance(url, str) or "://" not in url:
        raise UnsupportedURL(str(url), "expected scheme://..., e.g. sqlite:///data/nm.db")
    scheme, rest = url.split("://", 1)
    scheme = scheme.lower()
    if scheme == "memory":
        from nucleusmem.kv._memory import MemoryStore

        return MemoryStore(limits=limits)
    if scheme == "sqlite":
        from nucleusmem.kv._sqlite import SQLiteStore

        path = rest.split("?", 1)[0]
        if not path or path == "/":
            raise UnsupportedURL(url, "no file path; use sqlite:///abs/path.db")
        return SQLiteStore(path, limits=limits)
    if scheme == "etcd":
        from nucleusmem.kv._etcd import EtcdStore

        endpoints = parse_endpoints(url)
        options = dict(parse_qsl(urlsplit(url).query))
        unknown = set(options) - {"timeout_s"}
        if unknown:
            raise UnsupportedURL(url, f"unknown options {sorted(unknown)}")
        try:
            timeout_s = float(options.get("timeout_s", "10"))
        except ValueError as exc:
            raise UnsupportedURL(url, "timeout_s must be a number") from exc
        return EtcdStore(endpoints, limits=limits, timeout_s=timeout_s)
    raise UnsupportedURL(url, f"unknown scheme {scheme!r}; use memory, sqlite or etcd")


def parse_endpoints(url: str) -> list[tuple[str, int]]:
    """The ``(host, port)`` pairs of an ``etcd://h1:p1,h2:p2`` URL (port 2379 if absent)."""
    netloc = url.split("://", 1)[1].split("/", 1)[0].split("?", 1)[0]
    if not netloc:
        raise UnsupportedURL(url, "no endpoints; use etcd://host:port[,host:port]")
    endpoints: list[tuple[str, int]] = []
    for part in netloc.split(","):
        host, sep, port_text = part.strip().rpartition(":")
        if not sep:
            host, port_text = part.strip(), "2379"
        host = host.strip("[]")
        if not host:
            raise UnsupportedURL(url, f"endpoint {part!r} has no host")
        try:
            port = int(port_text)
        except ValueError as exc:
            raise UnsupportedURL(url, f"endpoint {part!r} has a bad port") from exc
        if not 0 < port < 65536:
            raise UnsupportedURL(url, f"endpoint {part!r} has a port out of range")
        endpoints.append((host, port))
    return endpoints
