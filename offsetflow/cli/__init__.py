"""The `offsetflow` command line."""

from __future__ import annotations

import re
import sys

import typer
from confluent_kafka import KafkaError, KafkaException
from pymongo.errors import PyMongoError, ServerSelectionTimeoutError
from rich.console import Console
from rich.markup import escape
from typer._click.exceptions import ClickException, NoArgsIsHelpError  # typer's own copy of click

from offsetflow import redact
from offsetflow.cli import (
    check,
    clean,
    compact,
    consume,
    dev,
    dlq,
    errors,
    logs,
    produce,
    replay,
    seed,
    stats,
    status,
    topics,
)
from offsetflow.config import ConfigError
from offsetflow.stack.process import StackError
from offsetflow.stream.retry import StopCleanly

app = typer.Typer(
    help="Resumable data pipelines over Kafka: consumer-group offsets are the checkpoints.\n\n"
    "Every flag --foo-bar can also be set as OFFSETFLOW_FOO_BAR.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(dev.app, name="dev")
app.add_typer(topics.app, name="topics")
app.add_typer(seed.app, name="seed")
app.add_typer(produce.app, name="produce")
app.add_typer(consume.app, name="consume")
app.add_typer(stats.app, name="stats")
app.command()(check.check)
app.command()(status.status)
app.command()(replay.replay)
app.add_typer(dlq.app, name="dlq")
app.command()(clean.clean)
app.command()(compact.compact)

# Errors a user can act on: one line, no traceback. RuntimeError covers unreachable servers and refusals (a group
# with running consumers); OSError an output that cannot be written (a full disk, a file where --out should be);
# ConfigError, caught first, settings offsetflow checks itself.
_USER_ERRORS = (StackError, KafkaException, PyMongoError, RuntimeError, OSError)

# The command as given cannot work, nothing was changed: a flag value out of range, an unknown flag, a setting
# the command cannot use (malformed --kafka-config, a MongoDB URI pymongo rejects, a topic or group that does
# not exist). Fix the command line or the settings.
USAGE_EXIT = 2
# It ran and stopped, or refused: a server unreachable, a group with running consumers, an outage for good.
ERROR_EXIT = 1
INTERRUPTED_EXIT = 130


def say_error(message: str) -> None:
    """One line on stderr, credentials masked (pymongo's ``full error: {...}`` document left out)."""
    line = " ".join(redact.text(message.split(", full error: ", 1)[0]).split())
    Console(stderr=True, soft_wrap=True).print(f"[red]error:[/red] {escape(line)}", highlight=False)


def mongo_unreachable(exc: ServerSelectionTimeoutError) -> str:
    """pymongo's topology dump, cut to the address and the cause."""
    text = str(exc)
    cause = re.sub(r" \(configured timeouts:[^)]*\)", "", text.split(", Timeout:", 1)[0])
    waited = re.search(r"Timeout: ([\d.]+)s", text)
    return (
        f"MongoDB not reachable: {cause}"
        + (f" (gave up after {float(waited[1]):g}s)" if waited else "")
        + "; is it running, and is --mongo-uri (OFFSETFLOW_MONGO_URI) right? `offsetflow dev up` starts the local one"
    )


def main() -> None:
    logs.setup()
    try:
        code = app(standalone_mode=False)
    except NoArgsIsHelpError as exc:  # `offsetflow dev`: the help, as click would show it
        Console(stderr=True).print(exc.format_message(), highlight=False, markup=False)
        sys.exit(USAGE_EXIT)
    except ClickException as exc:  # a flag value out of range, an unknown option, a missing argument
        ctx = getattr(exc, "ctx", None)
        where = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
        say_error(exc.format_message().rstrip(".") + where)
        sys.exit(exc.exit_code)
    except typer.Abort:  # a "go ahead?" answered no
        Console(stderr=True).print("aborted: nothing changed")
        sys.exit(ERROR_EXIT)
    except KeyboardInterrupt:
        Console(stderr=True).print("interrupted")
        sys.exit(INTERRUPTED_EXIT)
    except ConfigError as exc:
        say_error(errors.message(exc))
        sys.exit(USAGE_EXIT)
    except KafkaException as exc:
        error = exc.args[0] if exc.args else None
        if isinstance(error, KafkaError) and error.code() == KafkaError._INVALID_ARG:
            say_error(
                f"Kafka settings unusable: {error.str()}; check --kafka-config and the OFFSETFLOW_KAFKA_* variables "
                "(librdkafka property names, '_' for '.' in a variable)"
            )
            sys.exit(USAGE_EXIT)
        say_error(str(error.str() if isinstance(error, KafkaError) else exc))
        sys.exit(ERROR_EXIT)
    except ServerSelectionTimeoutError as exc:
        say_error(mongo_unreachable(exc))
        sys.exit(ERROR_EXIT)
    except StopCleanly as exc:  # a consumer stopped on purpose, its work committed
        if exc.exit_code == 0:
            Console(stderr=True, soft_wrap=True).print(f"stopped: {escape(redact.text(str(exc)))}", highlight=False)
        else:
            say_error(errors.message(exc))
        sys.exit(exc.exit_code)
    except _USER_ERRORS as exc:
        say_error(errors.message(exc))
        sys.exit(ERROR_EXIT)
    sys.exit(code if isinstance(code, int) else 0)
