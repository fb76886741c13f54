"""Helpers for tests and benchmarks: real servers on free ports, never mocks of them."""

from __future__ import annotations

from nucleusmem.testing.etcd import EtcdCluster, EtcdServer, find_etcd, free_ports

__all__ = ["EtcdCluster", "EtcdServer", "find_etcd", "free_ports"]
