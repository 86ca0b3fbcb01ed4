"""The HTTP server: routing, faults, and starting/stopping in a thread or from the CLI."""

import json
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, unquote, urlsplit

from . import miniprogram, pay
from .faults import FAULT_MODES
from .responses import Response, json_response, wechat_error
from .state import SandboxConfig, SandboxState

logger = logging.getLogger(__name__)

# WeChat endpoints: (method, path) → (handler, kind). "token" endpoints need a valid
# access_token, "open" ones do not, "pay" ones speak XML.
_MINI_PROGRAM_ROUTES = {
    ("GET", "/cgi-bin/token"): "token",
    ("GET", "/sns/jscode2session"): "code_to_session",
    ("POST", "/wxa/business/getuserphonenumber"): "phone_number",
    ("POST", "/cgi-bin/message/subscribe/send"): "subscribe_message_send",
}
_PAY_ROUTES = {
    "/pay/unifiedorder": pay.unified_order,
    "/pay/orderquery": pay.order_query,
    "/pay/closeorder": pay.close_order,
    "/secapi/pay/refund": pay.refund,
}
_FAULT_ERRCODES = {
    "rate_limited": (45011, "api minute-quota reach limit  mustslower  retry next minute"),
    "invalid_token": (40001, "invalid credential"),
    "user_refused": (43101, "user refuse to accept the msg"),
}


class _DropConnection(Exception):
    """Raised by a handler to close the connection without answering."""


class SandboxRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as WeChat's servers do
    # Headers and body leave in two writes; with Nagle on, the second waits for a delayed ACK
    # (~40 ms a call on keep-alive connections).
    disable_nagle_algorithm = True
    server_version = "WeChatSandbox/1.0"
    server: "_SandboxHTTPServer"

    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")

    def do_DELETE(self):
        self._handle("DELETE")

    def log_message(self, format, *args):
        if self.server.log_requests:
            super().log_message(format, *args)

    def _handle(self, method: str) -> None:
        url = urlsplit(self.path)
        path = unquote(url.path)
        query = dict(parse_qsl(url.query, keep_blank_values=True))
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0:
            self.close_connection = True
            self._send(json_response({"error": "bad Content-Length"}, status=400))
            return
        body = self.rfile.read(length) if length else b""
        try:
            response = self._route(method, path, query, body)
        except _DropConnection:
            self.close_connection = True
            return
        except Exception:  # a bug in the sandbox must not take the server down
            logger.exception("Sandbox error on %s %s", method, path)
            response = json_response({"error": "sandbox internal error"}, status=500)
        self._send(response)

    def _send(self, response: Response) -> None:
        try:
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(response.body)))
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(response.body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (its timeout): nothing to do

    def _route(self, method: str, path: str, query: dict, body: bytes) -> Response:
        state = self.server.state
        if path.startswith("/sandbox/"):
            return _control(state, method, path, query, body)
        route = _MINI_PROGRAM_ROUTES.get((method, path))
        pay_handler = _PAY_ROUTES.get(path) if method == "POST" else None
        if route is None and pay_handler is None:
            return json_response({"errcode": 404, "errmsg": f"no such endpoint: {path}"}, 404)

        state.count_call(path)
        fault = state.faults.take(path)
        if fault is not None:
            if fault.mode == "drop":
                raise _DropConnection
            if fault.mode == "delay":
                time.sleep(fault.delay_s)
            elif fault.mode == "http_500":
                return Response(
                    status=500, body=b"Internal Server Error", content_type="text/plain"
                )
            elif pay_handler is not None:
                return pay.fault_answer(state, fault.mode)
            else:
                return wechat_error(*_FAULT_ERRCODES[fault.mode])

        if pay_handler is not None:
            return pay_handler(state, body)
        if route == "token":
            return miniprogram.token(state, query)
        if route == "code_to_session":
            return miniprogram.code_to_session(state, query)
        if not miniprogram.access_token_is_valid(state, query):
            return wechat_error(40001, "invalid credential")
        if route == "phone_number":
            return miniprogram.phone_number(state, body)
        return miniprogram.subscribe_message_send(state, body)


def _control(state: SandboxState, method: str, path: str, query: dict, body: bytes) -> Response:
    """The sandbox's own endpoints under /sandbox/, for tests and demo users."""
    if path == "/sandbox/health" and method == "GET":
        return json_response({"status": "ok"})
    if path == "/sandbox/stats" and method == "GET":
        return json_response(state.stats())
    if path == "/sandbox/state" and method == "DELETE":
        state.reset()
        return json_response({"status": "reset"})
    if path == "/sandbox/messages":
        if method == "GET":
            return json_response(miniprogram.messages(state, query.get("touser") or None))
        if method == "DELETE":
            with state.lock:
                state.messages.clear()
            return json_response({"status": "cleared"})
    if path == "/sandbox/faults":
        if method == "GET":
            return json_response(state.faults.pending())
        if method == "DELETE":
            state.faults.clear()
            return json_response({"status": "cleared"})
        if method == "POST":
            try:
                spec = json.loads(body or b"{}")
                fault = state.faults.add(
                    mode=spec.get("mode"),
                    count=int(spec.get("count", 1)),
                    path=spec.get("path"),
                    delay_s=spec.get("delay_s"),
                )
            except (ValueError, TypeError, AttributeError) as exc:
                return json_response({"error": str(exc), "modes": list(FAULT_MODES)}, status=400)
            return json_response(
                {"mode": fault.mode, "count": fault.remaining, "path": fault.path}, status=201
            )
    if path.startswith("/sandbox/pay/orders/") and method == "GET":
        return pay.order_view(state, path.removeprefix("/sandbox/pay/orders/"))
    if path.startswith("/sandbox/pay/") and method == "POST":
        try:
            delay_s = float(query.get("delay_s") or 0)
        except ValueError:
            return json_response({"error": "delay_s must be a number"}, status=400)
        force = query.get("force", "") in ("1", "true", "yes")
        return pay.pay_order(
            state, path.removeprefix("/sandbox/pay/"), delay_s=max(delay_s, 0.0), force=force
        )
    return json_response({"error": f"no such sandbox endpoint: {method} {path}"}, status=404)


class _SandboxHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256  # flash sales open many connections at once

    def __init__(self, address, state: SandboxState, *, log_requests: bool):
        self.state = state
        self.log_requests = log_requests
        super().__init__(address, SandboxRequestHandler)

    def handle_error(self, request, client_address):
        # Clients that time out or hang up mid-answer are expected here (fault tests).
        logger.debug("Sandbox connection error from %s", client_address, exc_info=True)


class SandboxServer:
    """A WeChat sandbox bound to ``host:port`` (port 0 picks a free one).

    ``start()`` serves in a daemon thread and returns the root URL (with a trailing slash);
    ``stop()`` shuts it down. ``serve_forever()`` serves in the calling thread (the CLI).
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        config: SandboxConfig | None = None,
        log_requests: bool = False,
    ):
        self.state = SandboxState(config=config or SandboxConfig())
        self._httpd = _SandboxHTTPServer((host, port), self.state, log_requests=log_requests)
        self._thread: threading.Thread | None = None

    @property
    def root(self) -> str:
        host, port = self._httpd.server_address[:2]
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{port}/"

    def start(self) -> str:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )
        self._thread.name = "wechat-sandbox"
        self._thread.start()
        return self.root

    def serve_forever(self) -> None:
        self._httpd.serve_forever(poll_interval=0.5)

    def stop(self) -> None:
        self.state.stopping.set()
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
        self._httpd.server_close()

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc_info):
        self.stop()


def start_sandbox(**kwargs) -> SandboxServer:
    """Start a sandbox in a background thread (on a free port unless ``port`` is given)."""
    server = SandboxServer(**kwargs)
    server.start()
    return server
