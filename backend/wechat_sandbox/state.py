"""The sandbox's in-memory state, shared by the request threads and guarded by one lock."""

import threading
from dataclasses import dataclass, field

from .faults import FaultBook

DEFAULT_APPID = "wx-sandbox-appid"
DEFAULT_SECRET = "sandbox-secret"  # noqa: S105 (a well-known development value)
DEFAULT_MCH_ID = "1900000109"
DEFAULT_PAY_API_KEY = "sandbox-pay-api-key-0123456789abcd"

# Pauses between payment callback attempts. WeChat's own schedule is 15s/15s/30s/3m/10m/...;
# the sandbox keeps the shape (growing waits, a bounded number of tries) but fast.
DEFAULT_CALLBACK_BACKOFF = (0.2, 0.5, 1.0, 2.0, 4.0, 4.0, 4.0)


@dataclass(frozen=True)
class SandboxConfig:
    appid: str = DEFAULT_APPID
    secret: str = DEFAULT_SECRET
    mch_id: str = DEFAULT_MCH_ID
    pay_api_key: str = DEFAULT_PAY_API_KEY
    callback_backoff: tuple[float, ...] = DEFAULT_CALLBACK_BACKOFF
    callback_timeout_s: float = 5.0


@dataclass
class SandboxState:
    """Everything the sandbox remembers. Hold ``lock`` while reading or changing any field."""

    config: SandboxConfig
    lock: threading.RLock = field(default_factory=threading.RLock)
    faults: FaultBook = field(default_factory=FaultBook)
    tokens: set[str] = field(default_factory=set)
    tokens_issued: int = 0
    calls: dict[str, int] = field(default_factory=dict)
    messages: list[dict] = field(default_factory=list)
    orders: dict[str, dict] = field(default_factory=dict)
    refunds: dict[str, dict] = field(default_factory=dict)
    # Bumped by a reset so that callback deliveries started before it stop.
    generation: int = 0
    stopping: threading.Event = field(default_factory=threading.Event)

    def count_call(self, path: str) -> None:
        with self.lock:
            self.calls[path] = self.calls.get(path, 0) + 1

    def reset(self) -> None:
        """Forget faults, messages, payment orders and counters (issued tokens stay valid)."""
        with self.lock:
            self.faults.clear()
            self.calls.clear()
            self.messages.clear()
            self.orders.clear()
            self.refunds.clear()
            self.tokens_issued = 0
            self.generation += 1

    def stats(self) -> dict:
        with self.lock:
            return {
                "calls": dict(self.calls),
                "tokens_issued": self.tokens_issued,
                "tokens_valid": len(self.tokens),
                "messages": len(self.messages),
                "orders": len(self.orders),
                "faults": self.faults.pending(),
            }
