"""A realistic synthetic source: actors and their posts, shaped differently on each platform.

Deterministic for a seed. Texts mix languages, unicode and emoji; some fields are missing, as in real
exports. Post ``_id``s are strings (MongoDB-protocol stores index them best).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

PLATFORMS = ("twitter", "facebook", "telegram")
_PREFIX = {"twitter": "tw", "facebook": "fb", "telegram": "tg"}
_EPOCH = datetime(2024, 1, 1, tzinfo=UTC)

_WORDS = [
    "data",
    "pipeline",
    "kafka",
    "offset",
    "replay",
    "crash",
    "resume",
    "sample",
    "actor",
    "post",
    "signal",
    "noise",
    "budget",
    "election",
    "climate",
    "football",
    "music",
    "coffee",
    "morning",
    "city",
    "rain",
    "night",
    "market",
    "price",
    "update",
    "breaking",
    "news",
    "thread",
]
_INTL = ["こんにちは", "Привет", "مرحبا", "नमस्ते", "¡Hola!", "Grüße", "café", "naïve", "Ελλάδα", "서울", "İstanbul"]
_EMOJI = ["😀", "🔥", "🚀", "🎉", "👍", "🤔", "🇺🇦", "🇮🇳", "❤️", "👩‍💻", "🌍", "📈"]
_TAGS = ["news", "tech", "data", "sport", "music", "politics", "climate", "AI", "café", "日本"]
_LANGS = ["en", "en", "en", "es", "de", "ja", "ru", "ar", "hi", "tr"]


def actor_id(platform: str, n: int) -> str:
    return f"{_PREFIX[platform]}-actor-{n:07d}"


def post_id(platform: str, actor: int, n: int) -> str:
    return f"{_PREFIX[platform]}-{actor:07d}-{n:05d}"


def _text(rng: random.Random) -> tuple[str, list[str]]:
    words = rng.choices(_WORDS, k=rng.randint(4, 30))
    if rng.random() < 0.4:
        words.insert(rng.randrange(len(words)), rng.choice(_INTL))
    if rng.random() < 0.5:
        words.append("".join(rng.choices(_EMOJI, k=rng.randint(1, 3))))
    tags = rng.sample(_TAGS, k=rng.choice([0, 0, 1, 2, 3]))
    return " ".join(words + [f"#{t}" for t in tags]), tags


def _twitter(rng: random.Random, base: dict[str, Any], at: datetime) -> dict[str, Any]:
    text, tags = _text(rng)
    doc = {
        **base,
        "text": text,
        "created_at": at,
        "lang": rng.choice(_LANGS),
        "public_metrics": {
            "like_count": int(rng.paretovariate(1.2)) - 1,
            "retweet_count": int(rng.paretovariate(1.5)) - 1,
            "reply_count": int(rng.paretovariate(1.8)) - 1,
            "quote_count": int(rng.paretovariate(2.5)) - 1,
        },
    }
    if rng.random() < 0.7:  # impressions only exist for newer tweets
        doc["public_metrics"]["impression_count"] = rng.randint(10, 500_000)
    if tags or rng.random() < 0.2:
        doc["entities"] = {"hashtags": [{"tag": t} for t in tags], "urls": []}
    if rng.random() < 0.15:
        doc["attachments"] = {"media_keys": [f"3_{rng.getrandbits(40)}"]}
    return doc


def _facebook(rng: random.Random, base: dict[str, Any], at: datetime) -> dict[str, Any]:
    text, tags = _text(rng)
    doc: dict[str, Any] = {
        **base,
        "created_time": at.strftime("%Y-%m-%dT%H:%M:%S+0000"),  # Graph API style string timestamps
        "reactions": {k: int(rng.paretovariate(1.3)) - 1 for k in ("like", "love", "haha", "wow", "sad", "angry")},
        "comments": {"summary": {"total_count": int(rng.paretovariate(1.6)) - 1}},
    }
    if rng.random() < 0.85:  # photo-only posts have no message
        doc["message"] = text
        doc["message_tags"] = [{"name": t} for t in tags]
    if rng.random() < 0.6:
        doc["shares"] = {"count": int(rng.paretovariate(1.7)) - 1}
    if rng.random() < 0.3:
        doc["attachments"] = {"data": [{"type": rng.choice(["photo", "video_inline", "share"])}]}
    return doc


def _telegram(rng: random.Random, base: dict[str, Any], at: datetime) -> dict[str, Any]:
    text, _ = _text(rng)
    doc: dict[str, Any] = {
        **base,
        "message": text,
        "date": int(at.timestamp()),  # Telegram uses unix seconds
        "views": rng.randint(0, 2_000_000),
        "forwards": int(rng.paretovariate(1.4)) - 1,
    }
    if rng.random() < 0.5:
        doc["replies"] = {"replies": int(rng.paretovariate(1.9)) - 1}
    if rng.random() < 0.35:
        doc["media"] = {"_": rng.choice(["MessageMediaPhoto", "MessageMediaDocument", "MessageMediaWebPage"])}
    if rng.random() < 0.1:
        doc["edit_date"] = int(at.timestamp()) + rng.randint(60, 86_400)
    return doc


_SHAPES = {"twitter": _twitter, "facebook": _facebook, "telegram": _telegram}


def actors(platform: str, count: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(f"actors:{seed}:{platform}")
    return [
        {
            "_id": actor_id(platform, n),
            "platform": platform,
            "handle": f"{rng.choice(_WORDS)}_{rng.choice(_WORDS)}{n}",
            "followers": int(rng.paretovariate(1.1) * 50),
            "verified": rng.random() < 0.05,
        }
        for n in range(count)
    ]


def posts(platform: str, actor_count: int, per_actor: int, seed: int) -> Iterator[dict[str, Any]]:
    """Posts of every actor of a platform, generated lazily so a million never sit in memory."""
    shape = _SHAPES[platform]
    for actor in range(actor_count):
        rng = random.Random(f"posts:{seed}:{platform}:{actor}")
        for n in range(per_actor):
            at = _EPOCH + timedelta(seconds=rng.randint(0, 365 * 86_400))
            base = {"_id": post_id(platform, actor, n), "platform": platform, "actor_id": actor_id(platform, actor)}
            yield shape(rng, base, at)
