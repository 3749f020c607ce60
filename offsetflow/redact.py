"""Credentials never leave the process: one place that knows what a secret looks like.

Everything offsetflow prints or logs about its settings goes through here: connection strings lose the
password of their ``user:password@`` part, client settings whose name says they hold a secret
(``sasl.password``, ``ssl.key.password``, ``sasl.oauthbearer.client.secret``, ``OFFSETFLOW_LLM_API_KEY`` ...)
lose their value, and a logging filter does the same to every log line of the ``offsetflow`` loggers, so an
exception rendered into a log line cannot leak a password either.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

MASK = "***"

# scheme://user:password@host  ->  scheme://user:***@host   (any scheme: mongodb, mongodb+srv, http, sasl ...)
# user:password@host without a (well-formed) scheme, as in a mistyped `mongodb//etl:pw@db`
_BARE_CREDENTIALS = re.compile(r"(?<![^\s/'\"=(])(?P<user>[^:@/\s'\"]{1,256}):(?P<password>[^@:\s'\"]*)@(?=[^\s@])")
_URI_CREDENTIALS = re.compile(
    r"(?<![A-Za-z0-9+.\-])(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]{0,30}://)(?P<user>[^:@/\s'\"]*):(?P<password>[^@\s'\"]*)@"
)
# key=value / key: value pairs, as they appear in messages; masked when the key names a secret. Keys are bounded
# and start at a token boundary, so a megabyte-long token costs linear time, not quadratic.
_SECRET_PAIR = re.compile(
    r"(?<![A-Za-z0-9_.\-])(?P<key>[A-Za-z0-9_.\-]{1,80})"
    r"(?P<sep>\s*[=:]\s*)(?P<quote>['\"]?)(?P<value>[^\s,;'\"&}]+)",
    re.IGNORECASE,
)
_SECRET_WORDS = ("password", "passwd", "secret", "token", "credential", "key")
# Settings whose names contain "key" but hold no secret: shown as they are.
_NOT_SECRET = frozenset(
    {
        "key.serializer",
        "key.deserializer",
        "ssl.key.location",  # a path, not the key
        "ssl.keystore.location",
        "ssl.endpoint.identification.algorithm",
        "message.key",
        "partitioner.key",
    }
)


def is_secret_name(name: str) -> bool:
    """``sasl.password``, ``ssl.key.password``, ``ssl.key.pem``, ``sasl.oauthbearer.client.secret``,
    ``OFFSETFLOW_LLM_API_KEY``, ``--llm-api-key`` -> True; ``sasl.username``, ``ssl.key.location`` -> False."""
    normal = name.strip().lstrip("-").lower().replace("_", ".").replace("-", ".")
    if normal in _NOT_SECRET or normal == "key" or normal.endswith(".location"):
        return False
    return any(word in normal for word in _SECRET_WORDS)


def uri(text: str) -> str:
    """A connection string without its password: ``mongodb://etl:***@db:27017/``."""
    masked = _URI_CREDENTIALS.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", text)
    return _BARE_CREDENTIALS.sub(lambda m: f"{m['user']}:{MASK}@", masked)


def text(message: str) -> str:
    """Any message, with URI passwords and ``secret-key=value`` values masked."""
    masked = uri(message)
    return _SECRET_PAIR.sub(
        lambda m: f"{m['key']}{m['sep']}{m['quote']}{MASK}" if is_secret_name(m["key"]) else m[0], masked
    )


def settings(config: Mapping[str, Any]) -> dict[str, Any]:
    """Client settings fit to print: secret values masked, URIs without passwords, callables by name."""
    shown: dict[str, Any] = {}
    for key, value in config.items():
        if is_secret_name(key):
            shown[key] = MASK
        elif isinstance(value, str):
            shown[key] = uri(value)
        elif callable(value):
            shown[key] = f"<{getattr(value, '__name__', type(value).__name__)}>"
        else:
            shown[key] = value
    return shown


class RedactingFilter(logging.Filter):
    """Masks credentials in a log record's message and in its rendered exception, before any handler sees it."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: leave it to the handler's own error reporting
            return True
        record.msg, record.args = text(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = text(record.exc_text)
        return True


_FILTER = RedactingFilter()


def install(logger_name: str = "offsetflow") -> None:
    """Put the filter on the ``offsetflow`` logger and on every handler of the root logger (a logger's filters
    apply only to records logged on that logger, a handler's to everything it writes). Idempotent."""
    logger = logging.getLogger(logger_name)
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
    for handler in logging.getLogger().handlers:
        if _FILTER not in handler.filters:
            handler.addFilter(_FILTER)
