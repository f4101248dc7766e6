"""``semcache serve``: run the gateway under uvicorn.

On SIGTERM or Ctrl-C uvicorn stops accepting connections, lets every request
in flight - streams included - finish, then the app closes its upstream client
and the cache.
"""

from __future__ import annotations

import argparse
import logging
import sys

from .config import configure as configure_flags
from .config import from_args

__all__ = ["configure", "run"]


def configure(parser: argparse.ArgumentParser) -> None:
    configure_flags(parser)
    parser.add_argument("--log-level", default="info", help="uvicorn's log level (default info)")


def run(args: argparse.Namespace) -> int:
    from .._errors import ConfigurationError

    try:
        config = from_args(args)
    except ConfigurationError as exc:
        print(f"semcache serve: error: {exc}", file=sys.stderr)
        return 2
    try:
        import uvicorn

        from .app import create_app
    except ImportError as exc:
        print(
            f"semcache serve: needs the gateway extra: pip install 'redis-semcache[gateway]' ({exc})", file=sys.stderr
        )
        return 2
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(name)s: %(message)s")
    app = create_app(config)
    # proxy_headers: behind a load balancer the client address comes from X-Forwarded-For.
    server = uvicorn.Server(
        uvicorn.Config(app, host=config.host, port=config.port, log_level=args.log_level, proxy_headers=True)
    )
    server.run()
    return 0
