"""Modules imported on first use, so that a cold start loads only what its first request needs.

One Lambda function serves every route; importing every service and table model up
front would make each cold start pay for all of them. The standard library's
``importlib.util.LazyLoader`` is not thread-safe before Python 3.12 (the local server
and the tests are threaded), hence this small proxy.
"""
from __future__ import annotations

import importlib
import threading
from types import ModuleType
from typing import Any


class LazyModule:
    """Stands for a module; the first attribute access imports it (once, under a lock)."""

    def __init__(self, name: str):
        self._name = name
        self._module: ModuleType | None = None
        self._lock = threading.Lock()

    def _load(self) -> ModuleType:
        with self._lock:
            if self._module is None:
                self._module = importlib.import_module(self._name)
        return self._module

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self._module or self._load(), attribute)

    def __repr__(self) -> str:
        return f"<lazy module {self._name!r}>"
