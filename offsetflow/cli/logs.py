"""Log lines for people and for `docker compose logs`: time, level, message, on stderr."""

from __future__ import annotations

import logging
import sys


def setup() -> None:
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s", datefmt="%H:%M:%S"
    )
