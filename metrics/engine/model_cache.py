"""Networks loaded once per key (weights file, device, ...) and kept for the next call."""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Any


class ModelCache(dict):
    """A dict of loaded models with a lock, so that two threads never load the same one twice.

    ``clear()`` forgets them; ``metrics.services.extractors.forget_models`` also frees memory.
    """

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()

    def get_or_load(self, key: Hashable, load: Callable[[], Any]) -> Any:
        with self.lock:
            if key not in self:
                self[key] = load()
            return self[key]

    def clear(self) -> None:
        with self.lock:
            super().clear()
