"""A small client for the sandbox's control endpoints (used by tests and demo tooling)."""

import json
import urllib.request
from urllib.parse import quote, urlencode


class SandboxControl:
    """Drives a running sandbox at ``root`` (``http://host:port/``) over HTTP."""

    def __init__(self, root: str, *, timeout: float = 10.0):
        self.root = root if root.endswith("/") else root + "/"
        self.timeout = timeout

    def health(self) -> dict:
        return self._call("GET", "sandbox/health")

    def messages(self, touser: str | None = None) -> list[dict]:
        """Subscribe messages received, oldest first (only those to ``touser`` when given)."""
        query = f"?{urlencode({'touser': touser})}" if touser else ""
        return self._call("GET", f"sandbox/messages{query}")

    def fault(
        self, mode: str, count: int = 1, path: str | None = None, delay_s: float | None = None
    ) -> dict:
        """Make the next ``count`` calls (to paths starting with ``path``) fail as ``mode``."""
        spec = {"mode": mode, "count": count, "path": path, "delay_s": delay_s}
        return self._call(
            "POST", "sandbox/faults", {k: v for k, v in spec.items() if v is not None}
        )

    def clear(self) -> None:
        """Forget faults, messages, payment orders and call counters (tokens stay valid)."""
        self._call("DELETE", "sandbox/state")

    def stats(self) -> dict:
        """``{"calls": {path: n}, "tokens_issued": n, ...}`` since the last ``clear()``."""
        return self._call("GET", "sandbox/stats")

    def calls(self, path: str) -> int:
        return self.stats()["calls"].get(path, 0)

    def tokens_issued(self) -> int:
        return self.stats()["tokens_issued"]

    def pay(self, out_trade_no: str, delay_s: float = 0, *, force: bool = False) -> dict:
        """Pay the order now; its callback goes to the notify URL after ``delay_s`` seconds."""
        query = {"delay_s": delay_s} | ({"force": 1} if force else {})
        return self._call("POST", f"sandbox/pay/{quote(out_trade_no, safe='')}?{urlencode(query)}")

    def order(self, out_trade_no: str) -> dict:
        """The order as the sandbox sees it: trade_state, amounts, callbacks (attempts, answers)."""
        return self._call("GET", f"sandbox/pay/orders/{quote(out_trade_no, safe='')}")

    def _call(self, method: str, path: str, payload: dict | None = None):
        data = json.dumps(payload).encode("utf-8") if payload is not None else None
        request = urllib.request.Request(  # noqa: S310 (our own sandbox over http)
            self.root + path,
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
            return json.loads(response.read() or b"null")
