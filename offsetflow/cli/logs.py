"""Log lines for people and for `docker compose logs`: time, level, message, on stderr, credentials masked."""

from __future__ import annotations

import logging
import sys

from offsetflow import redact


def setup() -> None:
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s", datefmt="%H:%M:%S"
    )
    redact.install()  # on the `offsetflow` logger and on the handler just made: every line, any logger
