"""``python -m backend.wechat_sandbox --port 8765``: serve the WeChat sandbox until Ctrl-C."""

import argparse
import logging

from .server import SandboxServer
from .state import (
    DEFAULT_APPID,
    DEFAULT_MCH_ID,
    DEFAULT_PAY_API_KEY,
    DEFAULT_SECRET,
    SandboxConfig,
)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m backend.wechat_sandbox",
        description="A local WeChat mini-program API and WeChat Pay (v2) sandbox.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--appid", default=DEFAULT_APPID)
    parser.add_argument("--secret", default=DEFAULT_SECRET)
    parser.add_argument("--mch-id", default=DEFAULT_MCH_ID)
    parser.add_argument("--pay-api-key", default=DEFAULT_PAY_API_KEY)
    parser.add_argument("--quiet", action="store_true", help="do not log each request")
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    config = SandboxConfig(
        appid=args.appid, secret=args.secret, mch_id=args.mch_id, pay_api_key=args.pay_api_key
    )
    server = SandboxServer(
        host=args.host, port=args.port, config=config, log_requests=not args.quiet
    )
    print(
        f"WeChat sandbox on {server.root} (appid {config.appid}, mch_id {config.mch_id})",
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
