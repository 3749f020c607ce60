"""The extraction result for one SMS: its JSON schema, validation, and the stored document."""

from __future__ import annotations

import re
from typing import Any

PROMPT_VERSION = "sms-extract-v1"

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
        "sms_id": {"type": "string"},
        "is_transaction": {"type": "boolean"},
        "amount": {"type": ["number", "null"], "minimum": 0},
        "currency": {"type": ["string", "null"], "pattern": "^[A-Z]{3}$"},
        "direction": {"type": ["string", "null"], "enum": ["debit", "credit", None]},
        "account_mask": {"type": ["string", "null"], "maxLength": 32},
        "counterparty": {"type": ["string", "null"], "maxLength": 200},
        "transaction_time": {"type": ["string", "null"], "maxLength": 40},
        "balance": {"type": ["number", "null"]},
        "reference": {"type": ["string", "null"], "maxLength": 64},
        "channel": {"type": ["string", "null"], "enum": [*CHANNELS, None]},
        "category": {"type": ["string", "null"], "enum": [*CATEGORIES, None]},
        "confidence": {"type": "number", "minimum": 0, "maximum": 1},
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
        low, high = rule.get("minimum", float("-inf")), rule.get("maximum", float("inf"))
        if isinstance(value, int | float) and not isinstance(value, bool) and not low <= value <= high:
            raise InvalidResult(f"{key}={value!r} is out of range")
    return dict(result)
