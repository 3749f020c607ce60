"""The command line's words for the errors lower layers raise.

`ops/`, the pipelines' domains and `topics` raise typed errors carrying the facts (which topic, which group,
which address); only the command line knows its flags, so the advice that names one ("fix --posts-topic",
"pass --create") is written here. `main` prints every error through ``message``.
"""

from __future__ import annotations

from offsetflow import topics
from offsetflow.config import KafkaSettings
from offsetflow.ops.replay import BadTarget, NoTopics, UnknownGroup
from offsetflow.seeding import SourceNotEmpty


def require_topic(names: set[str], kafka: KafkaSettings, topic: str, flag: str) -> None:
    """`topics.require_topic`, its error naming ``flag``, the option that gave the topic."""
    try:
        topics.require_topic(names, kafka, topic)
    except topics.MissingTopic as exc:
        exc.flag = flag
        raise


def message(exc: BaseException) -> str:
    """One line for the user: the error's facts, then what to do about them in this command line's terms."""
    if isinstance(exc, topics.MissingTopic):
        return missing_topic(exc)
    if isinstance(exc, topics.KafkaUnreachable):
        return kafka_unreachable(exc)
    if isinstance(exc, UnknownGroup):
        return unknown_group(exc)
    if isinstance(exc, NoTopics):
        return f"{exc} with --topic"
    if isinstance(exc, BadTarget):
        return f"--to {exc}"
    if isinstance(exc, SourceNotEmpty):
        return f"{exc}; pass --replace to drop and reseed {'them' if len(exc.collections) > 1 else 'it'}"
    return str(exc)


def missing_topic(exc: topics.MissingTopic) -> str:
    # `topics create` makes the default topics as they are; another name needs the flag that names it.
    named = exc.flag is not None and exc.topic not in (topics.POSTS_IDS, topics.SMS_RAW)
    create = "offsetflow topics create" + (f" {exc.flag} {exc.topic}" if named else "")
    return f"{exc}: create it with `{create}`" + (f" (or fix {exc.flag} if it is a typo)" if exc.flag else "")


def kafka_unreachable(exc: topics.KafkaUnreachable) -> str:
    hint = "is the broker running, and is --bootstrap-servers (OFFSETFLOW_BOOTSTRAP_SERVERS) right?"
    if exc.local:
        hint += " `offsetflow dev up` starts the local stack"
    return f"{exc}{' (--wait-for-kafka)' if exc.limit is not None else ''}; {hint}"


def unknown_group(exc: UnknownGroup) -> str:
    known = exc.known
    listed = (
        f"known groups: {', '.join(known)}"
        if 0 < len(known) <= 10
        else f"{len(known)} groups exist (`offsetflow status` lists them)"
        if known
        else "no group has committed yet"
    )
    return f"{exc}; {listed}. Check the name, or pass --create to set a new group's starting offsets (with --topic)"
