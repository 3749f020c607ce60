"""The extraction result for one SMS: its JSON schema, validation, and the stored document."""

from __future__ import annotations

import math
import re
from typing import Any

PROMPT_VERSION = "sms-extract-v2"

CHANNELS = ["upi", "card", "neft", "imps", "rtgs", "atm", "emi", "netbanking", "cheque", "other"]
CATEGORIES = ["shopping", "food", "transfer", "salary", "refund", "loan", "cash", "bills", "travel", "other"]

# JSON Schema (draft 2020-12 subset) given to the model as its structured-output format.
RESULT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": [
        "sms_id",
        "is_transaction",
        "amount",
        "currency",
        "direction",
        "account_mask",
        "counterparty",
        "transaction_time",
        "balance",
        "reference",
        "channel",
        "category",
        "confidence",
    ],
    "properties": {
        "sms_id": {
            "type": "string",
            "description": "The sms_id of the input SMS this result describes.",
        },
        "is_transaction": {
            "type": "boolean",
            "description": (
                "True only if money actually moved (a debit or credit already happened); false for OTPs, "
                "future/intended debits, mandates, collect/payment requests, declined or failed attempts, "
                "statements, due reminders, balance alerts and promotions."
            ),
        },
        "amount": {
            "type": ["number", "null"],
            "minimum": 0,
            "description": (
                "The amount that moved, a plain number (no separators or currency); never a balance, limit or "
                "amount due."
            ),
        },
        "currency": {
            "type": ["string", "null"],
            "pattern": "^[A-Z]{3}$",
            "description": "ISO 4217 code of the amount (Rs/INR/₹ -> INR, $ -> USD, € -> EUR).",
        },
        "direction": {
            "type": ["string", "null"],
            "enum": ["debit", "credit", None],
            "description": "debit if money left the user's account or a card was charged, credit if it arrived.",
        },
        "account_mask": {
            "type": ["string", "null"],
            "maxLength": 32,
            "description": "The user's own account or card as XX plus its last four digits, e.g. XX1234.",
        },
        "counterparty": {
            "type": ["string", "null"],
            "maxLength": 200,
            "description": "The merchant or person on the other side, as written in the SMS.",
        },
        "transaction_time": {
            "type": ["string", "null"],
            "maxLength": 40,
            "description": "When it happened, ISO 8601 date or date-time, if stated.",
        },
        "balance": {
            "type": ["number", "null"],
            "description": "Available balance after the transaction, if stated.",
        },
        "reference": {
            "type": ["string", "null"],
            "maxLength": 64,
            "description": "UPI/IMPS/NEFT reference, RRN or UTR, if stated.",
        },
        "channel": {
            "type": ["string", "null"],
            "enum": [*CHANNELS, None],
            "description": "How the money moved.",
        },
        "category": {
            "type": ["string", "null"],
            "enum": [*CATEGORIES, None],
            "description": "What the money was for.",
        },
        "confidence": {
            "type": "number",
            "minimum": 0,
            "maximum": 1,
            "description": "How sure the extraction is, 0 to 1.",
        },
    },
}

_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "boolean": (bool,),
    "number": (int, float),
    "null": (type(None),),
    "object": (dict,),
}


class InvalidResult(ValueError):
    """Model output that does not fit the schema; after retries it becomes a dead letter."""


def validate(result: Any, expected_id: str) -> dict[str, Any]:
    """Check one result against RESULT_SCHEMA and that it is about ``expected_id``; return a clean copy."""
    if not isinstance(result, dict):
        raise InvalidResult(f"result is {type(result).__name__}, not an object")
    props = RESULT_SCHEMA["properties"]
    missing = [k for k in RESULT_SCHEMA["required"] if k not in result]
    extra = [k for k in result if k not in props]
    if missing or extra:
        raise InvalidResult(f"missing fields {missing}, unexpected fields {extra}")
    if result["sms_id"] != expected_id:
        raise InvalidResult(f"result is for {result['sms_id']!r}, not {expected_id!r}")
    for key, rule in props.items():
        value = result[key]
        types = rule["type"] if isinstance(rule["type"], list) else [rule["type"]]
        if not any(
            isinstance(value, _JSON_TYPES[t]) and not (t == "number" and isinstance(value, bool)) for t in types
        ):
            raise InvalidResult(f"{key}={value!r} is not {types}")
        if "enum" in rule and value not in rule["enum"]:
            raise InvalidResult(f"{key}={value!r} is not one of {rule['enum']}")
        if isinstance(value, str) and ("maxLength" in rule and len(value) > rule["maxLength"]):
            raise InvalidResult(f"{key} is longer than {rule['maxLength']}")
        if isinstance(value, str) and "pattern" in rule and not re.match(rule["pattern"], value):
            raise InvalidResult(f"{key}={value!r} does not match {rule['pattern']}")
        if isinstance(value, float) and not math.isfinite(value):
            raise InvalidResult(f"{key}={value!r} is not a finite number")  # JSON 1e999 parses as inf
        low, high = rule.get("minimum", float("-inf")), rule.get("maximum", float("inf"))
        if isinstance(value, int | float) and not isinstance(value, bool) and not low <= value <= high:
            raise InvalidResult(f"{key}={value!r} is out of range")
    return dict(result)
