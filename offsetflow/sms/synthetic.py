"""Synthetic bank SMS in many banks' formats, with the true extraction kept beside each one.

Deterministic for a seed. Non-transaction messages (OTPs, promos, bill reminders, "will be debited"
notices, balance alerts) carry amounts too, as real ones do, so an extractor must read, not grep.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

_MERCHANTS = ["AMAZON", "Swiggy", "ZOMATO", "Flipkart", "BigBasket", "Uber India", "IRCTC", "Starbucks", "Myntra"]
_US_MERCHANTS = ["AMAZON.COM", "WHOLEFDS MKT", "UBER *TRIP", "NETFLIX.COM", "SHELL OIL"]
_NAMES = ["RAHUL SHARMA", "PRIYA NAIR", "ACME TECH PVT LTD", "ANITA DESAI", "VIKRAM SINGH"]
_EMPLOYERS = ["INFOSYS", "TCS", "ACME TECH"]
_VPAS = ["rahul@okaxis", "swiggy@icici", "priya.n@ybl", "paytm-merchant@paytm", "electricity@upi"]


@dataclass(frozen=True)
class Truth:
    is_transaction: bool
    amount: float | None = None
    currency: str | None = None
    direction: str | None = None
    account_mask: str | None = None
    counterparty: str | None = None
    balance: float | None = None
    reference: str | None = None
    channel: str | None = None
    category: str | None = None


def _inr(amount: float, rng: random.Random) -> str:
    style = rng.randrange(4)
    if style == 0:
        return f"{amount:,.2f}"
    if style == 1:
        return f"{amount:.2f}"
    if style == 2:  # Indian grouping: 12,34,567.00
        whole, frac = f"{amount:.2f}".split(".")
        head, tail = whole[:-3], whole[-3:]
        groups: list[str] = []
        while len(head) > 2:
            groups.insert(0, head[-2:])
            head = head[:-2]
        return (
            ",".join([g for g in [head, *groups] if g] + [tail]) + "." + frac if head or groups else whole + "." + frac
        )
    return f"{amount:.2f}".rstrip("0").rstrip(".")


def _rs(rng: random.Random) -> str:
    return rng.choice(["Rs.", "Rs ", "INR ", "₹", "Rs"])


Template = Callable[[random.Random, datetime], tuple[str, str, Truth]]


def _card_spend(rng: random.Random, at: datetime) -> tuple[str, str, Truth]:
    amt, bal, acct, m = (
        round(rng.uniform(50, 20000), 2),
        round(rng.uniform(1000, 300000), 2),
        rng.randint(1000, 9999),
        rng.choice(_MERCHANTS),
    )
    body = (
        f"{_rs(rng)}{_inr(amt, rng)} spent on HDFC Bank Card XX{acct} at {m} on {at:%d-%m-%y}. "
        f"Avl Lmt: Rs.{_inr(bal, rng)}. Not you? Call 18002586161"
    )
    return "VM-HDFCBK", body, Truth(True, amt, "INR", "debit", f"XX{acct}", m, bal, None, "card", "shopping")


def _upi_debit(rng: random.Random, at: datetime) -> tuple[str, str, Truth]:
    amt, acct, vpa, ref = (
        round(rng.uniform(10, 5000), 2),
        rng.randint(1000, 9999),
        rng.choice(_VPAS),
        str(rng.randint(10**11, 10**12 - 1)),
    )
    body = f"Sent {_rs(rng)}{_inr(amt, rng)} from Kotak Bank AC X{acct} to {vpa} on {at:%d-%m-%y}.UPI Ref {ref}. Not you, https://kotak.com/KBANKT/Fraud"
    return "AD-KOTAKB", body, Truth(True, amt, "INR", "debit", f"XX{acct}", vpa, None, ref, "upi", "transfer")


def _upi_credit(rng: random.Random, at: datetime) -> tuple[str, str, Truth]:
    amt, acct, name, ref = (
        round(rng.uniform(10, 50000), 2),
        rng.randint(1000, 9999),
        rng.choice(_NAMES),
        str(rng.randint(10**11, 10**12 - 1)),
    )
    body = f"Dear Customer, Acct XX{acct} is credited with {_rs(rng)}{_inr(amt, rng)} on {at:%d-%b-%y} from {name}. UPI:{ref}-ICICI Bank."
    return "JM-ICICIB", body, Truth(True, amt, "INR", "credit", f"XX{acct}", name, None, ref, "upi", "transfer")


def _neft_credit(rng: random.Random, at: datetime) -> tuple[str, str, Truth]:
    amt, bal, acct, name = (
        round(rng.uniform(1000, 500000), 2),
        round(rng.uniform(1000, 900000), 2),
        rng.randint(1000, 9999),
        rng.choice(_NAMES),
    )
    ref = f"AXISN{rng.randint(10**9, 10**10 - 1)}"
    body = f"INR {_inr(amt, rng)} credited to A/c no. XX{acct} on {at:%d-%m-%Y} by NEFT/{ref}/{name}. Avl Bal: INR {_inr(bal, rng)} - Axis Bank"
    return "VK-AXISBK", body, Truth(True, amt, "INR", "credit", f"XX{acct}", name, bal, ref, "neft", "transfer")


def _imps_debit(rng: random.Random, at: datetime) -> tuple[str, str, Truth]:
    amt, acct, other, ref = (
        round(rng.uniform(100, 100000), 2),
        rng.randint(1000, 9999),
        rng.randint(1000, 9999),
        str(rng.randint(10**11, 10**12 - 1)),
    )
    body = f"Your a/c no. XXXXXXXX{acct} is debited for Rs.{_inr(amt, rng)} on {at:%d-%m-%Y} and credited to a/c no. XXXXXXXX{other} (IMPS Ref no {ref}). -SBI"
    return "JD-SBIINB", body, Truth(True, amt, "INR", "debit", f"XX{acct}", f"XX{other}", None, ref, "imps", "transfer")


def _atm(rng: random.Random, at: datetime) -> tuple[str, str, Truth]:
    amt, bal, acct = (
        float(rng.choice([500, 1000, 2000, 5000, 10000])),
        round(rng.uniform(1000, 90000), 2),
        rng.randint(1000, 9999),
    )
    body = f"Rs.{_inr(amt, rng)} withdrawn at ATM S1ACN{rng.randint(1000, 9999)} from A/c XX{acct} on {at:%d%b%y}. Avl Bal Rs.{_inr(bal, rng)}"
    return "BZ-SBIINB", body, Truth(True, amt, "INR", "debit", f"XX{acct}", None, bal, None, "atm", "cash")


def _salary(rng: random.Random, at: datetime) -> tuple[str, str, Truth]:
    amt, bal, acct, emp = (
        round(rng.uniform(30000, 300000), 2),
        round(rng.uniform(30000, 900000), 2),
        rng.randint(1000, 9999),
        rng.choice(_EMPLOYERS),
    )
    body = f"Salary of INR {_inr(amt, rng)} credited to your A/c XX{acct} on {at:%d-%m-%Y}. Info: SAL-{emp}. Avl Bal INR {_inr(bal, rng)}"
    return "VM-HDFCBK", body, Truth(True, amt, "INR", "credit", f"XX{acct}", emp, bal, None, "neft", "salary")


def _refund(rng: random.Random, at: datetime) -> tuple[str, str, Truth]:
    amt, acct, m = round(rng.uniform(50, 9000), 2), rng.randint(1000, 9999), rng.choice(_MERCHANTS)
    body = f"Refund of {_rs(rng)}{_inr(amt, rng)} from {m} has been credited to your HDFC Bank Card XX{acct} on {at:%d-%m-%y}."
    return "VM-HDFCBK", body, Truth(True, amt, "INR", "credit", f"XX{acct}", m, None, None, "card", "refund")


def _emi(rng: random.Random, at: datetime) -> tuple[str, str, Truth]:
    amt, acct, ref = round(rng.uniform(1000, 60000), 2), rng.randint(1000, 9999), f"EMI{rng.randint(10**6, 10**7 - 1)}"
    body = f"EMI of ₹{_inr(amt, rng)} for Loan A/c XX{acct} has been debited on {at:%d-%m-%Y}. Ref {ref}."
    return "AX-BAJFIN", body, Truth(True, amt, "INR", "debit", f"XX{acct}", None, None, ref, "emi", "loan")


def _usd(rng: random.Random, at: datetime) -> tuple[str, str, Truth]:
    amt, acct, m = round(rng.uniform(3, 900), 2), rng.randint(1000, 9999), rng.choice(_US_MERCHANTS)
    body = f"Chase: A charge of ${amt:,.2f} at {m} was authorized on your card ending in {acct} on {at:%b %d, %Y}."
    return "CHASE", body, Truth(True, amt, "USD", "debit", f"XX{acct}", m, None, None, "card", "shopping")


def _eur(rng: random.Random, at: datetime) -> tuple[str, str, Truth]:
    amt, bal, m = (
        round(rng.uniform(2, 400), 2),
        round(rng.uniform(10, 5000), 2),
        rng.choice(["Lidl", "Carrefour", "Bolt", "SNCF"]),
    )
    body = f"Revolut: You paid €{amt:.2f} to {m}. Balance: €{bal:,.2f}"
    return "REVOLUT", body, Truth(True, amt, "EUR", "debit", None, m, bal, None, "card", "shopping")


def _balance(rng: random.Random, at: datetime) -> tuple[str, str, Truth]:
    bal, acct = round(rng.uniform(100, 500000), 2), rng.randint(1000, 9999)
    return "VK-AXISBK", f"Avl Bal in A/c XX{acct} as on {at:%d-%m-%Y} is INR {_inr(bal, rng)}. -Axis Bank", Truth(False)


def _otp(rng: random.Random, at: datetime) -> tuple[str, str, Truth]:
    amt, m = round(rng.uniform(100, 9000), 2), rng.choice(_MERCHANTS)
    body = f"{rng.randint(100000, 999999)} is your OTP for txn of {_rs(rng)}{_inr(amt, rng)} at {m} on your card. Valid for 10 mins. Do not share with anyone."
    return "VM-HDFCBK", body, Truth(False)


def _promo(rng: random.Random, at: datetime) -> tuple[str, str, Truth]:
    m = rng.choice(_MERCHANTS)
    body = f"Get flat 20% cashback up to Rs.{rng.choice([100, 250, 500])} on {m}! Use code SAVE{rng.randint(10, 99)}. T&C apply"
    return "TM-OFFERS", body, Truth(False)


def _reminder(rng: random.Random, at: datetime) -> tuple[str, str, Truth]:
    due = at + timedelta(days=10)
    body = f"Your credit card bill of Rs.{_inr(round(rng.uniform(500, 90000), 2), rng)} is due on {due:%d-%m-%Y}. Pay now to avoid late fee."
    return "VM-HDFCBK", body, Truth(False)


def _will_debit(rng: random.Random, at: datetime) -> tuple[str, str, Truth]:
    body = (
        f"Rs.{_inr(round(rng.uniform(100, 20000), 2), rng)} will be debited from your A/c XX{rng.randint(1000, 9999)} "
        f"on {at + timedelta(days=3):%d-%m-%Y} towards {rng.choice(_MERCHANTS)} mandate."
    )
    return "JD-SBIINB", body, Truth(False)


TEMPLATES: list[tuple[Template, float]] = [
    (_card_spend, 12),
    (_upi_debit, 14),
    (_upi_credit, 8),
    (_neft_credit, 5),
    (_imps_debit, 5),
    (_atm, 5),
    (_salary, 3),
    (_refund, 3),
    (_emi, 3),
    (_usd, 3),
    (_eur, 2),
    (_balance, 6),
    (_otp, 10),
    (_promo, 8),
    (_reminder, 5),
    (_will_debit, 4),
]


def sms_for_user(user: str, count: int, seed: int) -> Iterator[tuple[dict[str, Any], Truth]]:
    rng = random.Random(f"sms:{seed}:{user}")
    templates, weights = zip(*TEMPLATES, strict=True)
    at = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(minutes=rng.randint(0, 10_000))
    for n in range(count):
        at += timedelta(minutes=rng.randint(5, 3000))
        template = rng.choices(templates, weights)[0]
        sender, body, truth = template(rng, at)
        doc = {
            "_id": f"{user}-{n:06d}",
            "sms_id": f"{user}-{n:06d}",
            "user_id": user,
            "sender": sender,
            "body": body,
            "received_at": at.replace(microsecond=0),
            "isprocessed": False,
        }
        yield doc, truth
