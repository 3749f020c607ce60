"""Connection settings shared by every command.

One naming scheme everywhere: the flag ``--foo-bar`` is also read from ``OFFSETFLOW_FOO_BAR``.
Client settings that offsetflow has no flag for pass straight through to the clients:

* Kafka: ``OFFSETFLOW_KAFKA_SECURITY_PROTOCOL=SASL_SSL`` or ``--kafka-config security.protocol=SASL_SSL``
  (any librdkafka property; in the variable name ``_`` stands for ``.``).
* MongoDB: options in the URI, or ``OFFSETFLOW_MONGO_TLSCAFILE=...`` / ``--mongo-option tlsCAFile=...``
  (any ``MongoClient`` keyword; pymongo treats option names case-insensitively).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from offsetflow import kafka_logs, redact

if TYPE_CHECKING:
    from pymongo import MongoClient

ENV_PREFIX = "OFFSETFLOW_"
KAFKA_ENV_PREFIX = ENV_PREFIX + "KAFKA_"
MONGO_ENV_PREFIX = ENV_PREFIX + "MONGO_"
# offsetflow's own flags under the pass-through prefixes; they are not client settings.
OWN_KAFKA_FLAGS = frozenset({"--kafka-config", "--kafka-port"})
OWN_MONGO_FLAGS = frozenset({"--mongo-uri", "--mongo-option", "--mongo-port"})

DEFAULT_BOOTSTRAP_SERVERS = "127.0.0.1:9092"
DEFAULT_MONGO_URI = "mongodb://127.0.0.1:27017/"


class ConfigError(ValueError):
    """A setting the user gave cannot be used; the message says which and how to fix it."""


# Every offsetflow log line is redacted, whichever entry point (CLI, consumers/, producers/) configured logging.
redact.install()


def env_name(flag: str) -> str:
    """``--sample-actors`` -> ``OFFSETFLOW_SAMPLE_ACTORS``."""
    return ENV_PREFIX + flag.lstrip("-").replace("-", "_").upper()


def parse_pairs(pairs: Iterable[str], what: str) -> dict[str, str]:
    """Parse repeated ``key=value`` flags; a malformed one is an error that names the flag."""
    out: dict[str, str] = {}
    for n, pair in enumerate(pairs, 1):
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            # The value is not echoed: a mistyped `sasl.password:...` would print the password.
            raise ConfigError(
                f"{what} expects KEY=VALUE, but value #{n} has no '=' or no key (not shown: it may hold a secret)"
            )
        out[key.strip()] = value
    return out


def kafka_settings_from_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    env = os.environ if environ is None else environ
    return {
        name[len(KAFKA_ENV_PREFIX) :].lower().replace("_", "."): value
        for name, value in env.items()
        if name.startswith(KAFKA_ENV_PREFIX) and name not in {env_name(f) for f in OWN_KAFKA_FLAGS}
    }


def mongo_options_from_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    env = os.environ if environ is None else environ
    return {
        name[len(MONGO_ENV_PREFIX) :].lower(): value
        for name, value in env.items()
        if name.startswith(MONGO_ENV_PREFIX) and name not in {env_name(f) for f in OWN_MONGO_FLAGS}
    }


@dataclass(frozen=True)
class KafkaSettings:
    bootstrap_servers: str = DEFAULT_BOOTSTRAP_SERVERS
    extra: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def resolve(cls, bootstrap_servers: str, kafka_config: Iterable[str] = ()) -> KafkaSettings:
        """Environment pass-through first, explicit ``--kafka-config`` pairs win."""
        extra = kafka_settings_from_env() | parse_pairs(kafka_config, "--kafka-config")
        return cls(bootstrap_servers=bootstrap_servers, extra=extra)

    def client_config(self, defaults: Mapping[str, Any] | None = None, **overrides: Any) -> dict[str, Any]:
        """librdkafka config: ``defaults`` < user settings < ``overrides`` (``enable_idempotence=True``
        is ``enable.idempotence``), so settings the pipeline's correctness rests on cannot be overridden.

        Every client gets offsetflow's ``logger``/``error_cb``/``stats_cb`` (``offsetflow.kafka_logs``): librdkafka's
        lines go through the ``offsetflow.kafka`` logger, rate-limited and redacted, instead of raw to stderr."""
        conf: dict[str, Any] = {**(defaults or {}), "bootstrap.servers": self.bootstrap_servers, **self.extra}
        conf.update({key.replace("_", "."): value for key, value in overrides.items()})
        kafka_logs.attach(conf)
        return conf

    def describe(self) -> str:
        """The settings fit to print: brokers, and the pass-through settings with secrets masked."""
        shown = redact.settings(self.extra)
        extra = ", ".join(f"{k}={v}" for k, v in sorted(shown.items()))
        return redact.uri(self.bootstrap_servers) + (f" ({extra})" if extra else "")


@dataclass(frozen=True)
class MongoSettings:
    uri: str = DEFAULT_MONGO_URI
    options: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def resolve(cls, uri: str, mongo_option: Iterable[str] = ()) -> MongoSettings:
        return cls(uri=uri, options=mongo_options_from_env() | parse_pairs(mongo_option, "--mongo-option"))

    def describe(self) -> str:
        """The connection string fit to print: no password."""
        return redact.uri(self.uri)

    def client(self, **kwargs: Any) -> MongoClient[dict[str, Any]]:
        """A ``MongoClient``; a URI or option pymongo cannot use is a ``ConfigError`` that names the setting and
        shows the URI without its password."""
        from pymongo import MongoClient
        from pymongo.errors import ConfigurationError

        opts: dict[str, Any] = {"serverSelectionTimeoutMS": 10_000, "appname": "offsetflow"}
        opts.update(self.options)
        opts.update(kwargs)
        try:
            return MongoClient(self.uri, **opts)
        except (ConfigurationError, ValueError, TypeError) as exc:
            raise ConfigError(
                f"MongoDB settings unusable ({redact.text(str(exc))}); --mongo-uri is {self.describe()}: "
                "use mongodb://host:port/ (port 1-65535; credentials as user:password@ before the host, URL-escaped), "
                "options via --mongo-option KEY=VALUE"
            ) from None
