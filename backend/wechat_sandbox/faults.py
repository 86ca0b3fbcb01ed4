"""Faults a test (or a demo user) asks for: the next N matching calls fail in a chosen way."""

import threading
from dataclasses import asdict, dataclass

FAULT_MODES = ("drop", "delay", "rate_limited", "invalid_token", "http_500", "user_refused")
DEFAULT_DELAY_S = 5.0
ACCESS_TOKEN_ENDPOINT = "/cgi-bin/token"  # noqa: S105 (a URL path, not a secret)


@dataclass
class Fault:
    mode: str
    remaining: int
    path: str | None = None  # a path prefix; None matches every endpoint but the token's
    delay_s: float = DEFAULT_DELAY_S

    def matches(self, path: str) -> bool:
        # A fault without a path is meant for the call a test makes, not for the token fetch
        # that may or may not precede it (depending on what is cached): the token endpoint is
        # faulted only when named.
        if self.path is None:
            return path != ACCESS_TOKEN_ENDPOINT
        return path.startswith(self.path)


class FaultBook:
    """Pending faults, oldest first. Thread-safe on its own."""

    def __init__(self):
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, *, mode: str, count: int = 1, path: str | None = None, delay_s=None) -> Fault:
        if mode not in FAULT_MODES:
            raise ValueError(f"mode must be one of {', '.join(FAULT_MODES)}")
        if count < 1:
            raise ValueError("count must be at least 1")
        if path is not None and not path.startswith("/"):
            path = "/" + path
        fault = Fault(
            mode=mode,
            remaining=int(count),
            path=path or None,
            delay_s=DEFAULT_DELAY_S if delay_s is None else float(delay_s),
        )
        with self._lock:
            self._faults.append(fault)
        return fault

    def take(self, path: str) -> Fault | None:
        """Use up one occurrence of the oldest fault matching ``path``, if any."""
        with self._lock:
            for fault in self._faults:
                if fault.matches(path):
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def pending(self) -> list[dict]:
        with self._lock:
            return [asdict(fault) for fault in self._faults]
