"""The built-in extractor: careful regexes over many banks' SMS formats. Offline and deterministic."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

MODEL = "rules-v1"

_CUR = r"(?P<cur>Rs\.?|INR|₹|\$|USD|€|EUR)"
_NUM = r"(?P<num>\d[\d,]*(?:\.\d{1,2})?)"
_MONEY = re.compile(_CUR + r"\s?" + _NUM, re.IGNORECASE)
_CURRENCY = {"rs": "INR", "rs.": "INR", "inr": "INR", "₹": "INR", "$": "USD", "usd": "USD", "€": "EUR", "eur": "EUR"}
_BALANCE_BEFORE = re.compile(
    r"(avl\.?\s*(bal|lmt|limit)|available\s+(balance|limit)|balance|bal)\s*[:.]?\s*(is\s*)?$", re.I
)

_NOT_TXN = [
    re.compile(p, re.I)
    for p in (
        r"\bOTP\b",
        r"one[- ]time password",
        r"\bwill be (debited|deducted|charged)\b",
        r"\bis due\b",
        r"\bdue on\b",
        r"\bcashback\b",
        r"\buse code\b",
        r"\boffer\b",
        r"\bT&C\b",
        r"\bpre-?approved\b",
        r"\bmandate\b.*\bscheduled\b",
        r"\brequest(ed)? (money|payment)\b",
        r"\bcollect request\b",
    )
]
_DEBIT = re.compile(r"\b(debited|spent|sent|withdrawn|paid|charged?|purchase|deducted|transferred to)\b", re.I)
_CREDIT = re.compile(r"\b(credited|received|deposited|refund(ed)?|reversed)\b", re.I)

_ACCOUNT = re.compile(
    r"(?:a/c|acct|account|ac|card)\s*(?:no\.?)?\s*(?:ending\s+(?:in|with)\s*)?[X*x]*(\d{3,6})\b|\bX{1,}(\d{3,6})\b|ending\s+in\s+(\d{3,6})",
    re.I,
)
_REF = re.compile(
    r"(?:UPI\s*Ref(?:\.|erence)?\s*(?:no\.?|No)?|UPI:|IMPS\s*Ref\s*no|Ref(?:\.|erence)?\s*(?:no\.?)?|Txn\s*ID|NEFT/)\s*[:#]?\s*([A-Z0-9]{6,})",
    re.I,
)
_COUNTERPARTY = [
    re.compile(r"\bto\s+([\w.\-]+@[\w.\-]+)", re.I),  # a VPA
    re.compile(r"and credited to a/c no\.?\s*[X*]*(\d{3,6})", re.I),
    re.compile(r"\bNEFT/[A-Z0-9]+/([^.]+?)\.", re.I),
    re.compile(r"\bSAL-([A-Z][\w &]+?)\.", re.I),
    re.compile(r"\bfrom\s+([A-Z][\w .&*-]+?)\s+has been credited", re.I),
    re.compile(r"\bfrom\s+([A-Z][A-Z .&*-]+?)\.\s", re.I),
    re.compile(r"\bpaid\s+\S+\s+to\s+([\w .&*-]+?)\.", re.I),
    re.compile(r"\bat\s+([A-Z][\w .&*'-]+?)\s+(?:on|was)\b", re.I),
]
_DATES = [
    (re.compile(r"\b(\d{2}-\d{2}-\d{4})\b"), "%d-%m-%Y"),
    (re.compile(r"\b(\d{2}-\d{2}-\d{2})\b"), "%d-%m-%y"),
    (re.compile(r"\b(\d{2}-[A-Za-z]{3}-\d{2})\b"), "%d-%b-%y"),
    (re.compile(r"\b(\d{2}[A-Za-z]{3}\d{2})\b"), "%d%b%y"),
    (re.compile(r"\b([A-Z][a-z]{2} \d{2}, \d{4})\b"), "%b %d, %Y"),
]


def _amount(text: str) -> float:
    return float(text.replace(",", ""))


def _channel(body: str) -> str | None:
    b = body.lower()
    for word, channel in (
        ("upi", "upi"),
        ("imps", "imps"),
        ("neft", "neft"),
        ("rtgs", "rtgs"),
        ("atm", "atm"),
        ("emi", "emi"),
        ("salary", "neft"),
        ("card", "card"),
        ("revolut", "card"),
    ):
        if re.search(rf"\b{word}\b", b):
            return channel
    return None


def _category(body: str, channel: str | None, direction: str | None) -> str | None:
    b = body.lower()
    if "salary" in b or "sal-" in b:
        return "salary"
    if "refund" in b or "reversed" in b:
        return "refund"
    if channel == "emi" or "loan" in b:
        return "loan"
    if channel == "atm":
        return "cash"
    if channel in ("upi", "neft", "imps", "rtgs"):
        return "transfer"
    if channel == "card":
        return "shopping"
    return "other" if direction else None


def extract(sms_id: str, body: str, received_at: datetime | None = None) -> dict[str, Any]:
    """One result per SMS, in the schema the LLM extractors must also fill."""
    result: dict[str, Any] = {
        "sms_id": sms_id,
        "is_transaction": False,
        "amount": None,
        "currency": None,
        "direction": None,
        "account_mask": None,
        "counterparty": None,
        "transaction_time": None,
        "balance": None,
        "reference": None,
        "channel": None,
        "category": None,
        "confidence": 0.9,
    }
    amounts, balance = [], None
    for match in _MONEY.finditer(body):
        value, currency = _amount(match["num"]), _CURRENCY[match["cur"].lower().strip()]
        if _BALANCE_BEFORE.search(body[: match.start()]):
            balance = balance if balance is not None else value
        else:
            amounts.append((value, currency))
    result["balance"] = balance
    debit, credit = _DEBIT.search(body), _CREDIT.search(body)
    if any(p.search(body) for p in _NOT_TXN) or not amounts or not (debit or credit):
        result["confidence"] = 0.85 if amounts else 0.95
        return result
    # Both verbs ("debited ... and credited to a/c"): the earlier one is what happened to this account.
    if debit and credit:
        direction = "debit" if debit.start() < credit.start() else "credit"
    else:
        direction = "debit" if debit else "credit"
    if re.search(r"\brefund\b", body, re.I):
        direction = "credit"
    result.update(is_transaction=True, direction=direction, amount=amounts[0][0], currency=amounts[0][1])
    account = _ACCOUNT.search(body)
    if account:
        result["account_mask"] = "XX" + next(g for g in account.groups() if g)
    ref = _REF.search(body)
    if ref:
        result["reference"] = ref.group(1)
    for pattern in _COUNTERPARTY:
        found = pattern.search(body)
        if found:
            name = found.group(1).strip()
            result["counterparty"] = f"XX{name}" if name.isdigit() else name
            break
    for pattern, fmt in _DATES:
        dated = pattern.search(body)
        if dated:
            try:
                result["transaction_time"] = datetime.strptime(dated.group(1), fmt).date().isoformat()
                break
            except ValueError:
                continue
    if result["transaction_time"] is None and received_at is not None:
        result["transaction_time"] = received_at.isoformat()
    result["channel"] = _channel(body)
    result["category"] = _category(body, result["channel"], direction)
    return result
