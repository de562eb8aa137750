"""One least-recently-used store bounded by bytes, for the activation cache and the Workbench's memo."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable


class ByteLRU:
    """A mapping whose values' sizes (``sizeof(value)``, bytes) add up to at most ``max_bytes``.

    Putting a value past the bound drops the least recently used ones first; the newest value always
    stays, even alone over the bound. Safe to share between threads (computations run outside its lock).
    """

    def __init__(self, max_bytes: int, sizeof: Callable[[object], int]):
        self.max_bytes = int(max_bytes)
        self.sizeof = sizeof
        self.nbytes = 0
        self._entries: OrderedDict[Hashable, tuple[object, int]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._entries

    def get(self, key: Hashable, default=None):
        """The value of ``key`` (now the most recently used), or ``default``."""
        with self._lock:
            if key not in self._entries:
                return default
            self._entries.move_to_end(key)
            return self._entries[key][0]

    def put(self, key: Hashable, value) -> None:
        size = int(self.sizeof(value))
        with self._lock:
            if key in self._entries:
                self.nbytes -= self._entries.pop(key)[1]
            self._entries[key] = (value, size)
            self.nbytes += size
            while self.nbytes > self.max_bytes and len(self._entries) > 1:
                _, (_, dropped) = self._entries.popitem(last=False)
                self.nbytes -= dropped

    def get_or_compute(self, key: Hashable, compute: Callable[[], object]):
        """The value of ``key``, computed by ``compute()`` and kept if it is not there."""
        missing = object()
        value = self.get(key, missing)
        if value is missing:
            value = compute()
            self.put(key, value)
        return value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self.nbytes = 0
