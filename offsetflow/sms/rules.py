"""The built-in extractor: a small grammar over bank SMS. Offline, deterministic and linear in the body's length.

An SMS is first normalised (NFKC, so styled and full-width letters and digits, no-break spaces and "₨" become
plain; curly quotes, dashes and invisible characters folded; runs of blanks collapsed; words glued to amounts split),
then read as a few kinds of phrase rather than as one template per bank:

* money: a currency marker (Rs, Rs., Rs:, INR, ₹, $, USD, €, EUR, AED, ...) before or after a number in Indian
  or Western grouping; a number with no marker only where a money verb binds it ("credited with 15000.00");
  an amount after a balance/limit/due word is not the transaction's, nor a threshold or rate ("on every Rs 100",
  "Rs 2,000 or more", "Rs 20/day"), a converted amount in brackets, points/miles/data, or zero;
* account: a mask (XX1234, **1234, ...5494, XXXXXXXX00341234, 074-260***-006, 123xxxx7655, CK0000) after an
  account/card word (also checking/savings, "last 4"), else a product-prefixed number (SB1234, SAV 1234, CA-001234),
  else a bare mask; IBAN-like and partly shown card numbers too; reported as XX and its last four digits;
* cues that money moved, and which way: *strong* ones (debited, spent, Dr., credited, refunded, ...) and *weak*
  ones (the nouns transaction, payment, purchase; "sent"/"received" away from an amount), a weak one made strong by
  a completion word after it ("Payment of Rs 150 ... successful", up to the end of a long sentence) or an amount
  next to it ("Received Rs.250"); some nouns count only once completed (SIP, premium, AutoPay, "Send Money"), and
  some only touching an amount ("+$300.00", "$50.00 at GROCER" in an SMS that names a card or account);
* blockers that say it did not move (yet): *strong* (OTPs and codes, "will be debited" unless it is a side note
  about another amount or a condition, declined/failed/bounced, collect and payment requests, "use code"/"T&C
  apply", mini statements; and, up to the sentence with the first amount, imperative adverts and OTP mentions) and
  *weak* (mandates; and, only up to the sentence with the first amount so that footers do not count, due
  reminders, promotions, requests, statements, pending/held payments and fraud-check questions).

It is a transaction when it has an amount and a strong cue and no strong blocker, or a weak cue and no blocker at
all. The direction is the earliest such cue's; the amount is the one nearest to it; the account is the first
mask that is not the other party's.

Every cue names the general pattern it covers; tests/test_sms_rules.py gives an example of each, in our own words.
Patterns run on an ASCII-lowercased copy of the normalised text (same length, so positions agree) and use only bounded,
unambiguous repetition (no `.*` spans, no unbounded nested quantifiers); lookups between amounts and cues are
by bisection; only the first SCAN_LIMIT characters are read. Time is linear in the SMS, and bounded for any body.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left
from dataclasses import dataclass
from datetime import datetime
from typing import Any

# Stored results are reused per model and prompt version: a new name when the rules read SMS differently.
MODEL = "rules-v3"

# Real SMS are under ~1,600 characters (a 10-part concatenated SMS); nothing past this is read, which also bounds
# the work on hostile input.
SCAN_LIMIT = 4096

# Longest values the result schema allows (offsetflow.sms.result.RESULT_SCHEMA maxLength).
_LIMITS = {"reference": 64, "counterparty": 200, "account_mask": 32, "transaction_time": 40}

_LOWER = str.maketrans({chr(c): chr(c + 32) for c in range(ord("A"), ord("Z") + 1)})
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f]")

# --- normalisation -----------------------------------------------------------------------------------------------

# Gateways and apps restyle SMS text: NFKC folds what only looks different into plain characters: styled
# "mathematical" letters (bold/sans-serif "spent"), full-width letters and digits (U+FF10-FF5A), no-break and
# narrow no-break spaces, the rupee sign "₨" (to "Rs"), "…" (to "...") and ligatures. Then curly quotes become
# straight, dashes and the minus sign become "-", and invisible characters (zero-width spaces and joiners, soft
# hyphens, byte-order marks) go, so that "debi\u200bted" is still "debited".
_FOLD = str.maketrans(
    {
        **dict.fromkeys("\u2018\u2019\u201a\u201b\u2032", "'"),
        **dict.fromkeys("\u201c\u201d\u201e\u201f\u2033", '"'),
        **dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63", "-"),
        **dict.fromkeys("\u00ad\u200b\u200c\u200d\u2060\ufeff"),
    }
)
# Runs of spaces and tabs are one space; a line break with blanks around it is one line break (line breaks still
# separate fields in line-per-field alerts). Patterns then allow a few spaces where the SMS had any number.
_BLANKS = re.compile(r"[^\S\n]{2,}")
_LINE_BREAKS = re.compile(r"[^\S\n]*\n\s*")
# Words glued to amounts by templates that drop a space: "Rs.450.00debited", "INR450.00for", "debitedINR500",
# "ofRs.120". A space goes between a two-decimal amount and a following word, between a number and a money verb,
# and between a connecting word or money verb and a currency marker followed by a number.
_GLUED_AFTER = re.compile(
    r"(?<=[0-9][.,][0-9]{2})(?=[a-z]{2})|"
    r"(?<=[0-9])(?=(?:debited|credited|deducted|spent|paid|withdrawn|received|sent|transferred|deposited|refunded|"
    r"reversed|charged)\b)",
    re.I,
)
_GLUED_BEFORE = re.compile(
    r"\b(of|for|with|by|debited|credited|deducted|spent|paid|withdrawn|received|sent|transferred|deposited|"
    r"refunded|charged|amt|amount)((?:rs|inr|usd|eur|gbp|aed)[.:]?\s?[0-9])",
    re.I,
)


def _normalise(body: str) -> str:
    text = body[:SCAN_LIMIT]
    if not text.isascii():  # (both are the identity on ASCII, most SMS)
        text = unicodedata.normalize("NFKC", text).translate(_FOLD)[:SCAN_LIMIT]
    text = _LINE_BREAKS.sub("\n", _BLANKS.sub(" ", _CONTROL.sub(" ", text)))
    return _GLUED_BEFORE.sub(r"\1 \2", _GLUED_AFTER.sub(" ", text))[:SCAN_LIMIT]


# --- money -------------------------------------------------------------------------------------------------------

_CURRENCY = {
    "rs": "INR",
    "inr": "INR",
    "₹": "INR",
    "rupees": "INR",
    "$": "USD",
    "us$": "USD",
    "€": "EUR",
    "£": "GBP",
    "a$": "AUD",
    "au$": "AUD",
    "c$": "CAD",
    "ca$": "CAD",
    "s$": "SGD",
    "hk$": "HKD",
    "nz$": "NZD",
    "ksh": "KES",
    "₦": "NGN",
    "₱": "PHP",
    "¥": "JPY",
    "r$": "BRL",
    "mx$": "MXN",
    "฿": "THB",
    "₺": "TRY",
    "₽": "RUB",
    "₩": "KRW",
    "₪": "ILS",
    "৳": "BDT",
    "tk": "BDT",
    "birr": "ETB",
    "taka": "BDT",
    "r": "ZAR",
    "rm": "MYR",
    "rp": "IDR",
}
# ISO codes banks write before or after amounts (Indian, US, European, Gulf, Egyptian, South-Asian spends).
# ISO codes are read only where a number follows (or precedes) them; codes that are also English words (TRY, ALL,
# MAD, TOP) are left out.
_ISO = "inr|usd|eur|gbp|aed|sar|qar|kwd|omr|bhd|jod|egp|sgd|aud|cad|nzd|hkd|jpy|cny|chf|sek|nok|dkk|pln|czk|huf|"
_ISO += "npr|lkr|bdt|pkr|myr|idr|vnd|zar|thb|krw|rub|uah|ils|brl|mxn|cop|ars|clp|pen|kes|ngn|ghs|etb|tzs|ugx|php"
# Symbols and local abbreviations: "$", "₹", "€", "£", "A$", "C$", "S$", "HK$", "R$", "MX$", "KSh", "Tk", "₦",
# "₱", "¥", "฿", "₺", "₽", "₩", "₪", "৳".
_SYMBOL = r"us\$|a\$|au\$|c\$|ca\$|s\$|hk\$|nz\$|r\$|mx\$|\$|₹|€|£|₦|₱|¥|฿|₺|₽|₩|₪|৳|rs|ksh|tk"
# Malaysian ringgit "RM50.00", Indonesian rupiah "Rp 150.000", and the South African rand "R450.00" (a lone R is
# read only right before an amount with cents, so that references like "R123456" are not amounts).
_SYMBOL += r"|rm(?=\s?[0-9])|rp(?=\.?\s?[0-9])|r(?=[0-9]{1,3}(?:,[0-9]{3}){0,4}\.[0-9]{2}(?![0-9]))"
# Currencies with no minor unit in use, written with dots between thousands: "Rp 150.000" is 150,000.
_DOT_THOUSANDS = frozenset({"IDR", "VND", "CLP", "COP", "PYG", "UGX", "TZS", "KRW"})
_DOT_GROUPED = re.compile(r"[0-9]{1,3}(?:\.[0-9]{3})+")
# A number: European 1.234,56; Western 1,234,567.00 or Indian 12,34,567.00 grouping; plain digits; up to three
# decimals ("Rs. 5.000" is five rupees); a bare fraction after a marker ("EUR .93"). Never more than 15 digits:
# a longer run is an id, not an amount (and could not be an exact, finite float).
# Also: space-grouped thousands with decimals, as French, Nordic and Swiss banks write (and NFKC leaves no-break
# spaces as plain ones): "1 234,56", "12 500.00"; a decimal comma with no grouping: "12,50 EUR" (one comma, then
# exactly two digits and no more groups, so Indian "1,00,000" and Western "1,250" keep their meaning); two or more
# dot groups with no decimals: "1.250.000" (thousands, as no decimal number has two points).
_NUM = (
    r"(?:[0-9]{1,3}(?: [0-9]{3}){1,4}[.,][0-9]{2}"
    r"|[0-9]{1,13},[0-9]{2}(?![0-9,])"
    r"|[0-9]{1,3}(?:\.[0-9]{3}){2,4}(?![0-9,])"
    r"|[0-9]{1,3}(?:\.[0-9]{3}){1,4},[0-9]{2}"
    r"|(?:[0-9]{1,3}(?:,[0-9]{2}){0,4},[0-9]{3}(?:,[0-9]{3}){0,4}|[0-9]{1,13})(?:\.[0-9]{1,3})?"
    r"|\.[0-9]{1,2})(?![0-9])"
)
# Marker first: "Rs.500", "Rs:151.00", "Rs.-500", "INR.1,000.00", "Rs. INR 2.07" (two markers), "USD50.25", "($15.00)".
_MONEY_BEFORE = re.compile(
    rf"(?<![a-z0-9])(?P<cur>{_SYMBOL}|{_ISO})(?![a-z])[.:-]{{0,2}}\s{{0,2}}(?:(?:rs|inr)[.:]?\s{{0,2}})?"
    rf"(?P<num>{_NUM})"
)
# Marker after: "500.00 INR", "1,000 rupees", "25.50€", "300 Birr", "500₹", "20 £".
_MONEY_AFTER = re.compile(rf"(?<![0-9.,])(?P<num>{_NUM})\s?(?P<cur>{_ISO}|rupees|birr|taka|rs\b|€|\$|₹|£)(?![a-z])")
# No marker, bound to a money verb ("is credited with 15000.00 on", "debited by 20.0") or a field label ("Amount:
# 500.00"). Not a date or a time.
# Quantities that are not money, after a number with no currency: "credited with 500 reward points", "2 GB data",
# "1,200 miles", "100 coins", "30 minutes".
_NOT_MONEY = (
    r"\s{0,2}(?:bonus\s|reward\s|loyalty\s)?(?:points?|pts|miles|coins|units|credits|gb|mb|sms|minutes|mins|days)\b"
)
_BARE_AMOUNT = re.compile(
    r"\b(?:credited|debited|deposited|withdrawn|paid|spent|transferred)\s{1,3}(?:(?:with|by|for|of)\s{1,3})?"
    rf"(?:(?:an\s)?amount\s{{1,3}}(?:of\s{{1,3}})?)?(?P<num>{_NUM})(?![-/:,.][0-9])(?!{_NOT_MONEY})"
    # ... or by a field label: "Amount: 500.00", "Txn Amt - 1,250.00".
    rf"|\b(?:amount|amt)\s{{0,2}}[:=-]\s{{0,2}}(?P<field>{_NUM})(?![-/:][0-9])"
)
# A balance, limit, cap, threshold or due amount is not the transaction's: "Avl Bal:Rs.1,234", "AvlBal:",
# "Avl Lmt INR 5,000", "Available credit limit is", "max amount upto Rs. 75000", "Min Amt Due Rs 500".
_BALANCE_WORD = re.compile(
    r"bal\b|balance|\b(?:av(?:a?i)?l(?:b?l)?|avbl|available|limit|lmt|up\s?to|max(?:imum)?|outstanding|"
    r"min(?:imum)?|due|above)\b"
)
# ... with only connecting words between it and the amount ("Avl Bal in A/c XX12 as on 01-02-26 is INR"): in
# "Card Limit Alert: Rs 500 spent" the limit word names the alert, not the amount.
_BALANCE_GAP = re.compile(
    r"(?:[\s:.=(),-]|\b(?:is|of|in|your|a/c|ac|acct|account|the|as|on|now|amt|amount|avl|available|bal|balance|"
    r"total|clear|clr|current|updated|final|net|ledger|usable|limit|lmt|credit|cr|rs|inr|was|were|low|"
    r"[0-9x*/]{1,20})\b){0,40}"
)


# Promotions and reward rules quote thresholds and rates, not an amount that moved: "10 points on every Rs 100
# spent", "per Rs 200", "vouchers worth Rs 500", "on spends of at least Rs 999", "more than $50", "Rs 2,000 or more",
# "$50 and above". (Limit words like max/upto/min/above are balance words already.) "worth" only after a reward
# word: "a purchase worth Rs 899" is the amount spent.
_THRESHOLD_BEFORE = re.compile(
    r"\b(?:every|per|each|least|than|exceeding|(?:points?|vouchers?|rewards?|gifts?|benefits?|offers?|prizes?|"
    r"coupons?|cashback|discounts?)\s{1,3}worth)[\s:.-]{1,3}$"
)
# A converted amount right after the charged one: "USD 50.00 (INR 4,150.00) spent", "EUR 20 (approx. Rs 1,800)".
_CONVERSION = re.compile(r"\s{0,2}[(\[]\s{0,2}(?:approx\.?\s{0,2}|~\s{0,2}|equiv\w{0,8}\s{1,3}(?:to\s{1,3})?)?")
# A rate is not an amount either: "Rs 1,00,000 per day", "Rs 20/day", "$5 a month".
_THRESHOLD_AFTER = re.compile(
    r"\s{0,2}(?:or\s{1,3}(?:more|above)|and\s{1,3}above|onwards|(?:per|a|/)\s{0,2}(?:day|month|year|week|txn|"
    r"transaction|annum|gm|gram|kg|litre|unit))\b"
)


@dataclass(frozen=True)
class _Money:
    start: int
    end: int
    value: float
    currency: str | None  # None: no marker, so the SMS's other currency (or INR)
    balance: bool = False  # a balance, limit or due amount, or a threshold: not the amount moved
    threshold: bool = False  # "on every Rs 100", "Rs 500 or more", a conversion "(INR 4,150)": no balance either


def _number(text: str) -> float | None:
    text = text.replace(" ", "")
    if text.count(".") > 1 and "," not in text:  # 1.250.000
        text = text.replace(".", "")
    if "," in text:
        european = text.rindex(",") > text.rindex(".") if "." in text else text.rindex(",") == len(text) - 3
        if european and ("." in text or text.count(",") == 1):  # 1.234,56 and 12,50
            text = text.replace(".", "").replace(",", ".")
    try:
        value = float(text.replace(",", ""))
    except ValueError:
        return None
    return value if 0 <= value < 1e13 else None


def _money(low: str) -> list[_Money]:
    """Every amount in the text, in order; balances are marked later, once the cues are known."""
    found: list[_Money] = []
    covered = bytearray(len(low))  # characters already read as part of an amount
    for pattern in (_MONEY_BEFORE, _MONEY_AFTER, _BARE_AMOUNT):
        for m in pattern.finditer(low):
            start, end = m.start(), m.end()
            number = m["num"] if m["num"] is not None else m["field"]
            value = _number(number)
            if value is None or any(covered[start:end]):
                continue
            covered[start:end] = b"\x01" * (end - start)
            if pattern is _BARE_AMOUNT:
                found.append(_Money(m.start("num" if m["num"] is not None else "field"), end, value, None))
            else:
                marker = m["cur"].rstrip()
                currency = _CURRENCY.get(marker, marker.upper())
                if currency in _DOT_THOUSANDS and _DOT_GROUPED.fullmatch(number):
                    value = float(number.replace(".", ""))
                found.append(_Money(start, end, value, currency))
    found.sort(key=lambda money: money.start)
    return found


def _balances(low: str, money: list[_Money], cue_starts: list[int]) -> list[_Money]:  # cue_starts sorted
    """Mark balances: a balance word in the stretch before the amount (back to the previous amount, at most 32
    characters) and no money cue between that word and the amount ("Bal Rs 10. Rs 5 debited" is not one)."""
    out: list[_Money] = []
    previous_end = 0
    for x in money:
        window_start, previous_end = max(0, x.start - 32, previous_end), x.end
        words = list(_BALANCE_WORD.finditer(low, window_start, x.start)) if x.currency is not None else []
        # (a bare amount is bound to its verb: never a balance)
        balance = (
            bool(words)
            and bisect_left(cue_starts, words[-1].end()) == bisect_left(cue_starts, x.start)
            and _BALANCE_GAP.fullmatch(low, words[-1].end(), x.start) is not None
        )
        threshold = bool(
            _THRESHOLD_BEFORE.search(low, max(0, x.start - 24), x.start)
            or _THRESHOLD_AFTER.match(low, x.end)
            or (out and _CONVERSION.fullmatch(low, out[-1].end, x.start))
        )
        out.append(_Money(x.start, x.end, x.value, x.currency, balance or threshold, threshold))
    return out


# --- cues: money moved, and which way ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Cue:
    pattern: re.Pattern[str]
    direction: str  # "debit" or "credit"
    strong: bool
    # A weak cue right next to an amount is strong: "Received Rs.250" is a credit whatever follows.
    near_amount: bool = False
    # A weak cue followed, within 100 characters, by a completion word is strong: "Payment of Rs 150 successful".
    completes: bool = False
    # ... and without one it is no cue at all: "Your SIP of Rs 1,000 ... processed" moved money, "Your SIP of Rs
    # 1,000" alone is a notice.
    only_completed: bool = False
    # A weak cue that exists only touching an amount: "after" it, "before" it ("+$300.00"), or "merchant": after it
    # and before a capitalised name, in an SMS that names a card or account ("$50.00 at GROCER").
    attached: str | None = None


def _cue(
    regex: str,
    direction: str,
    strong: bool,
    near_amount: bool = False,
    completes: bool = False,
    only_completed: bool = False,
    attached: str | None = None,
) -> _Cue:
    return _Cue(
        re.compile(regex), direction, strong, near_amount, completes or only_completed, only_completed, attached
    )


_TO_YOUR = r"\s{1,3}(?:to|in|into)\s{1,3}(?:your|ur)\b"
_CUES: list[_Cue] = [
    # Past-tense verbs of money leaving an account: "debited", "deducted", "withdrawn", "You withdrew", "spent",
    # "charged", "levied" (a fee taken; "will be levied" is blocked as future), "taken from your account", "card
    # swiped for", "You purchased".
    _cue(
        r"\b(?:debited|auto-?debited|autodebited|deducted|withdrawn|withdrew|spent|charged|levied|swiped|"
        r"purchased)\b|"
        r"\btaken\s{1,3}from\b",
        "debit",
        True,
    ),
    # "paid" is done; but "ignore if (already) paid" is a reminder's footer, and "paid to your" is money in.
    _cue(r"\bpaid\b(?<!if paid)(?<!already paid)(?!" + _TO_YOUR + ")", "debit", True),
    # A withdrawal noun, its abbreviations and common misspelling: "ATM withdrawal: $25.00", "ACH withdrawal",
    # "CASH WDL", "ATM W/D", "withdrawl".
    _cue(r"\b(?:withdrawal|withdrawl|wdl|w/d)\b", "debit", True),
    # "debit" heading an amount or an alert: "UPI debit:Rs.599", "DEBIT with amount", "has a debit by transfer
    # of", "Debit Alert!", "Debit Amount:", a field value "Type: Debit |". Not "debit card", the instrument.
    _cue(
        r"\bdebit(?=\s{0,2}(?:[:!|)\n-]|$|(?:of|with|by|for|from|to|alert|amount|amt|transaction|txn|rs|inr)\b))",
        "debit",
        True,
    ),
    # Moved out by transfer: "Rs.29 transferred from A/c ...5494", "transfered to John" (not "to your").
    _cue(r"\btransferr?ed\b(?!" + _TO_YOUR + ")", "debit", True),
    # A card used at a merchant: "card XX1234 used at AMAZON", "was used for USD50.25", "Thank you for using
    # HSBC Debit Card ...".
    _cue(r"\bused\s{1,3}(?:at|for|on)\b|\bthank\s{1,3}you\s{1,3}for\s{1,3}using\b", "debit", True),
    # You did it, in the past tense: "You made a $9.17 transaction with", "made a purchase of".
    _cue(r"\bmade\s{1,3}an?\s(?:\S{1,20}\s){0,2}(?:transaction|purchase|payment|spend|charge)\b", "debit", True),
    # Credited to the payee (NEFT/IMPS "credited to the beneficiary account"): it left *this* account.
    _cue(r"\bcredited\s{1,3}to\s{1,3}(?:the\s{1,3})?(?:beneficiary|payee)", "debit", True),
    # ... or to someone else's account from yours: "Rs 500 credited to A/c XX2468 from your A/c XX1357".
    _cue(r"\bcredited\s{1,3}to\s{1,3}(?!your\b|ur\b)[^.|\n]{0,48}?\bfrom\s{1,3}(?:your|ur)\b", "debit", True),
    # Past-tense verbs of money arriving: "credited", "deposited", "refunded", "reversed". Refunds and reversals
    # are money coming back even when the SMS also mentions the failed or declined original.
    _cue(r"\b(?:credited|deposited|refunded|reversed|refund|reversal)\b", "credit", True),
    # Money put into a wallet, card or loan account: "Rs 500 loaded to your FASTag", "wallet topped up with",
    # "Loan amount of Rs 50,000 disbursed to A/c".
    _cue(r"\b(?:loaded|reloaded|disbursed)\b|\btopped\s{1,3}up\b", "credit", True),
    # "credit" heading an amount or an alert: "NEFT credit of INR", "CREDIT with amount", "UPI Credit:INR",
    # "Credit Alert!", "Type: Credit". Not "credit card"/"credit limit"/"available credit", which name things.
    _cue(
        r"\bcredit(?<!available credit)(?<!avl credit)"
        r"(?=\s{0,2}(?:[:!|)\n-]|$|(?:of|with|by|to|into|alert|amount|amt|transaction|txn|rs|inr)\b))",
        "credit",
        True,
    ),
    # Money into your account or wallet, or someone paid you: "Cashback of Rs.50 has been sent to your A/c",
    # "Rs 500 added to your wallet", "John paid you $20".
    _cue(
        r"\b(?:sent|transferred|paid|added)" + _TO_YOUR + r"|\badded\s{1,3}(?:to|in)\b|\b(?:paid|sent)\s{1,3}you\b",
        "credit",
        True,
    ),
    # "Sent Rs.500 from A/c" / "Received Rs.250 in your A/c": strong next to an amount; alone ("OTP sent",
    # "request received for processing") they say little.
    _cue(r"\bsent\b", "debit", False, near_amount=True),
    _cue(r"\b(?:received|recieved)\b", "credit", False, near_amount=True),
    # "You've got £20.00 from", "you got Rs 50 cashback": money you received.
    _cue(r"\b(?:you've|you\s{1,3}have|you)\s{1,3}got\b", "credit", False, near_amount=True),
    # Banking-app headings: "Money in: £20.00 from", "Money out: £5.00 to".
    _cue(r"\bmoney\s{1,3}in\b", "credit", False),
    _cue(r"\bmoney\s{1,3}out\b", "debit", False),
    # An amount at a merchant is a card spend even with no verb: "Card ending 1234: $50.00 at GROCER". Only with a
    # capitalised name after it and a card or account named in the SMS: "Rs 250 at the counter", "Rs 99 at 10:15",
    # "your order of Rs 899 at FASHION STORE is confirmed" are not spends.
    _cue(rf"(?:\bat|@)\s{{1,2}}(?=[a-z])(?!(?:{_ISO}|rs|tk|ksh)\b)", "debit", False, attached="merchant"),
    # A sign on the amount, as app feeds show it: "+$300.00 from JOHN", "-$75.00 PHONE CO".
    _cue(r"\+(?<![\w.,)/+-]\+)(?=\s?(?:[$€£₹]|rs\b|rs\.|inr|usd|eur|gbp))", "credit", False, attached="before"),
    _cue(r"-(?<![\w.,)/+-]-)(?=\s?(?:[$€£₹]|rs\b|rs\.|inr|usd|eur|gbp))", "debit", False, attached="before"),
    # Nouns of a card or account being used: "had a transaction of ($15.00)", "Txn Rs.500 On Card 1234",
    # "A Trx using Card", "Payment of Rs X ... successful", "Purchase of USD 75", "Pending charge for $43.92",
    # "POS txn", "Outward transfer of AED 500", "Recharge of Rs 199 successful", "IMPS of Rs 500 to JOHN",
    # "Cheque 000123 for Rs 5,000 cleared".
    _cue(
        r"\b(?:transaction|txn|trx|trxn|payment|purchase|charge|pos|ecom|e-com|transfer|outward|outgoing|recharge|imps|neft|"
        r"rtgs|cheque|check)\b",
        "debit",
        False,
        completes=True,
    ),
    # Statement narrations carry the entry's side after the rail: "Info: UPI/CR/6104.../NAME", "IMPS/DR/...",
    # "NEFT-CR", "ACH-DR", "UPI/P2A/DR" (longer than the rail's noun below, so they win over it).
    _cue(r"\b(?:upi|imps|neft|rtgs|ach|nach|ecs|pos|atm|mmt|ift|ibft)[/-](?:p2[am]/)?dr\b", "debit", False),
    _cue(r"\b(?:upi|imps|neft|rtgs|ach|nach|ecs|pos|atm|mmt|ift|ibft)[/-](?:p2[am]/)?cr\b", "credit", False),
    # Nouns of money arriving: "Direct deposit of $1,200 posted", "Incoming transfer of AED 500".
    _cue(r"\b(?:deposit|inward|incoming)\b", "credit", False, completes=True),
    # Wallet operations named as headings (mobile money, wallets): "Send Money Tk 500 to ... successful", "Cash Out
    # Tk 500 ... successful", "Confirmed. ... Withdraw Ksh500.00 from AGENT"; "Cash In Tk 500 from ... successful".
    # The same words are the imperatives of adverts ("Send money abroad at Rs 0 fee", "Withdraw Rs 500 from any
    # ATM"), so they count only with a completion word (after them, or just before: "Confirmed.").
    _cue(r"\bsend\s{1,3}money\b|\bcash[\s-]?out\b|\bwithdraw\b", "debit", False, only_completed=True),
    _cue(r"\bcash[\s-]?in\b", "credit", False, only_completed=True),
    # Standing payments that are only notices until done: "Your SIP of Rs 1,000 ... processed successfully",
    # "Premium of Rs 5,000 for policy ... paid successfully", "Installment of $200 posted".
    _cue(r"\b(?:sip|premium|instal+ment|contribution|subscription|emi)\b", "debit", False, only_completed=True),
    # ... and so are standing orders and mandates once executed: "AutoPay of Rs 499 for NETFLIX executed
    # successfully", "Standing instruction of Rs 1,000 executed", "NACH debit of Rs 500 processed".
    _cue(
        r"\bauto[- ]?pay\b|\bstanding\s{1,3}instruction\b|\be-?mandate\b|\b(?:nach|ecs|si)\b",
        "debit",
        False,
        only_completed=True,
    ),
    # Spanish and Portuguese alerts (Latin American banks): "Compra aprobada por $50", "Compra aprovada ... R$ 50",
    # "Pago exitoso", "Transferencia realizada", "Retiro en cajero", "Saque"; "Recibiste $50", "Você recebeu".
    _cue(r"\b(?:compra|pago|pagamento|transferencia|transferência|retiro|saque)\b", "debit", False, completes=True),
    _cue(r"\b(?:recibiste|recebeu|recebido|recebida|abono)\b", "credit", True),
]
# What may stand between "sent"/"received" and its amount: auxiliaries, "payment of", punctuation.
_FILLER = re.compile(
    r"[\s:!.-]{0,3}(?:(?:has|have|is|was|been|a|an|the|payment|money|amount|amt|of)[\s:!.-]{1,3}){0,4}"
)
# Completion: the noun's transaction went through ("successful", "approved", "processed", "posted", "done",
# "made", "authorized", "settled", "cleared", "executed"); not a mandate or card set-up that was "successfully
# registered/activated", nor one "registered/created/set up successfully" (set-up words before it too).
_SET_UP = "registered|activated|created|set|linked|added|updated|enabled|cancelled|revoked|modified|paused"
_COMPLETED = re.compile(
    r"\bsuccess(?<!registered success)(?<!activated success)(?<!created success)(?<!set up success)"
    r"(?<!setup success)(?<!linked success)(?<!enabled success)(?<!updated success)(?<!cancelled success)"
    rf"(?<!revoked success)(?<!modified success)(?<!paused success)(?:ful(?:ly)?)?\b(?!\s{{1,3}}(?:{_SET_UP}))|"
    r"\b(?:approved|processed|completed|confirmed|posted|done|made|authori[sz]ed|settled|cleared|executed)\b"
    # ("is being processed" is not done yet)
    r"(?<!being processed)(?<!being approved)(?<!being posted)(?<!being settled)(?<!being cleared)|"
    r"\b(?:aprobad[ao]|aprovad[ao]|realizad[ao]|exitos[ao]|efetuad[ao])\b"
)
# Dr/Cr tags bound to an amount: "Rs.80.00 Dr. from A/c", "Dr INR 29,000.00", "Rs.500.00 Cr. to". A tag after
# a balance ("Bal Rs.27000.00 CR") or before a word ("Avl Cr. Limit") is not bound to the transaction's amount.
# Also dotted ("D.R.", "C.R.") and in brackets ("(Dr)"), as some core-banking templates print them.
_DRCR = re.compile(r"(?<![a-z])(d\.?r|c\.?r)\.?(?![a-z])")

# --- blockers: money did not (yet) move ---------------------------------------------------------------------------

# One-time passwords and codes: "123456 is your OTP", "Your verification code is". Not a footer telling you never
# to share one ("Never share OTP/PIN"): a mention right after share/disclose/reveal/tell is skipped, and a mention
# with no code counts only up to the sentence with the first amount: after it, "OTP/PIN/CVV are confidential" and
# "Beware of calls asking for OTP" are advice appended to an alert.
_OTP = re.compile(r"\b(?:otp|one[- ]time\s(?:password|pin|code)|verification\scode|activation\s(?:key|code))\b")
_OTP_FOOTER = re.compile(
    r"\b(?:share|sharing|disclose|reveal|tell|give|provide|send|asks?|asked|asking|never|not|don't|dont)\b"
    r"[^.]{0,24}$"
)
# ... but a code right there is an OTP message whatever precedes it: "OTP is 482910", "482910 is your OTP", "Your
# security code for txn of Rs 500 is 482910", "Use 482910 as your login code", "482910 is the code to authorise",
# one-time PINs and passwords.
_CODE_WORD = (
    r"(?:otp|one[- ]time\s(?:password|pin|code)|(?:verification|security|login|secret|confirmation|authentication|"
    r"authorisation|authorization)\s(?:code|pin))"
)
_OTP_CODE = re.compile(
    rf"\b{_CODE_WORD}\W{{0,3}}(?:is\W{{1,3}}|:\W{{0,2}})?[0-9]{{4,8}}\b|"
    rf"\b[0-9]{{4,8}}\W{{1,3}}is\s{{1,3}}(?:your|the)\s{{1,3}}(?:[a-z]{{1,12}}\s{{1,3}})?(?:{_CODE_WORD}|code|pin|password)\b|"
    rf"\b{_CODE_WORD}\b[^|\n]{{0,60}}?\bis\W{{1,3}}[0-9]{{4,8}}\b|\buse\s{{1,3}}[0-9]{{4,8}}\s{{1,3}}as\b"
)
# Future or intended movement: "will be debited", "to be credited", "shall be charged", "will debit". It blocks the
# SMS unless a past-tense cue outside it is about another amount: in "Rs 1,250 spent on card XX10; cashback of Rs
# 50 will be credited" the spend happened, and only the cashback is to come.
_FUTURE = re.compile(
    r"\b(?:will|shall|would|to)\s{1,3}be\s{1,3}(?:auto[- ]?)?(?:debited|credited|deducted|charged|paid|"
    r"deposited|transferred|levied|presented|processed|refunded|reversed|taken|collected)\b|"
    r"\bwill\s{1,3}(?:debit|credit|charge|deduct)\b|\bscheduled\s{1,3}(?:for|on|to)\b"
)
# Conditional charges: "Charges Rs 50 may apply", "may be levied". Up to the sentence with the first amount only:
# after an alert, "Charges may apply for SMS alerts" is a footer.
_CONDITIONAL_CHARGE = re.compile(
    r"\b(?:may|might)\s{1,3}(?:be\s{1,3})?(?:apply|applicable|debited|charged|levied|deducted)\b"
)
# A condition before the future phrase, in its sentence: "if", "in case (of)", "unless", "should it".
_CONDITION = re.compile(r"\b(?:if|in\s{1,3}case|incase|unless|should)\b[^.!?|\n]{0,80}$")
# Past-tense cues (verbs and Dr/Cr tags), as against nouns ("refund of") that a future phrase may be about.
_PAST = re.compile(r"ed\b|\b(?:spent|paid|withdrew|withdrawn|sent|used|dr|cr|d\.r|c\.r)\b")
_STRONG_BLOCKERS = [
    # Collect and payment requests: someone asks you to pay; nothing moved until you approve.
    re.compile(
        r"\b(?:collect|payment|money|fund)\s{1,3}request|\bhas\s{1,3}requested\b|"
        r"\brequest(?:ed|ing)?\s{1,3}(?:you\s{1,3})?(?:(?:for|of)\s{1,3})?(?:money|payment|rs|inr|₹)"
    ),
    # Mini statements list several entries ("Rs 500 DR, Rs 1,000 CR"): a summary, not one transaction.
    re.compile(r"\bmini[\s-]{1,3}statement\b|\blast\s{1,3}[0-9]{1,2}\s{1,3}(?:transactions|txns|entries)\b"),
    # Marketing that a transaction alert never says: "Use code SAVE20", "T&C apply", "Apply now", "pre-approved".
    re.compile(
        r"\b(?:use\s{1,3}(?:promo\s{1,3})?code|apply\s{1,3}now|pre-?approved)\b|\bt\s?&\s?cs?\s{1,3}apply\b|"
        r"\bterms\s(?:and|&)\sconditions\sapply\b"
    ),
]
# Declined and failed attempts: nothing moved, unless the SMS is about the refund or reversal of one.
_FAILED = re.compile(
    r"\b(?:declined|failed|unsuccessful|rejected|insufficient)\b|\bcould(?:\s{1,3}not|n't)\s{1,3}be\b|"
    r"\bnot\s{1,3}(?:been\s{1,3}|be\s{1,3})?(?:processed|completed|successful)\b|"
    # cheques and debits that came back: "returned unpaid", "bounced", "dishonoured"
    r"\breturned\s{1,3}unpaid\b|\b(?:bounced|dishono(?:u)?red)\b"
)
_REFUND = re.compile(r"\b(?:refund|refunded|reversal|reversed)\b")
_WEAK_BLOCKERS = [
    # Mandates and standing instructions set up, received or revoked: "NACH Mandate ... received for processing",
    # "biller registered successfully". Not "your registered mobile" in a footer.
    re.compile(
        r"\b(?:mandate|umrn|revoked|registration)\b|\bstanding\s{1,3}instruction|"
        r"\bsuccessfully\s{1,3}registered\b|\bregistered\s{1,3}successfully\b"
    ),
]
# Bills and reminders quote the amount to pay ("is due on", "overdue", "Reminder:"; not "due to", a reason);
# promotions quote amounts too ("offer", "cashback", "reward", "voucher", "% off", "eligible", "win"), and so do
# requests ("your request", "request for Rs 500") and statements. But banks also append due dates, offers,
# how-to-request and view-your-statement lines to real alerts. These block only up to the end of the sentence that
# holds the first# amount: a footer after it does not.
_LEAD_BLOCKERS = re.compile(
    # (one leading \b for the word alternatives: the engine then tries them only at word starts)
    r"\b(?:(?:due(?!\s{1,3}to\b)|overdue|reminder)\b|bill\s{1,3}(?:of|for|amount)\b|"
    r"statement\b|(?:offers?|cashback|vouchers?|coupons?|discounts?|exclusive|eligible|hurry|win)\b|"
    # ("25 reward points" earned on the spend the SMS reports is a count, not an offer)
    r"rewards?\b(?<![0-9]\sreward)(?<![0-9]\srewards)|"
    r"(?:your|a|new|pending)\s{1,3}request\b|request\s{1,3}(?:of|for|from)\b|"
    # Not done yet, or a question to confirm: "Your payment of Rs 500 is pending", "a pending payment of", "Did you
    # attempt a $900 purchase?" ("Pending charge for $43.92 at", a card authorisation, is a spend.)
    r"(?:is|are|remains?|still)\s{1,3}pending\b|pending\s{1,3}(?:payment|with|for|approval|confirmation)\b|"
    r"did\s{1,3}you\b|attempt(?:ed)?\s{1,3}(?:a|an|to)\b|"
    # EMI-conversion offers; held or in-process payments; an overdrawn account asked to be funded ("overdrawn by
    # Rs 500. Please deposit funds.")
    r"(?:convert|conversion)\b|overdrawn\b|on\s{1,3}hold\b|under\s{1,3}review\b|being\s{1,3}processed\b|"
    r"in\s{1,3}process\b|(?:please|kindly)\s{1,3}(?:pay|deposit|maintain|fund|clear|recharge)\b)|"
    r"limited\s{1,3}period|[0-9]\s?%\s{0,2}off\b"
)
_SENTENCE_END = re.compile(r"[.!?](?:\s|$)|[|\n]")
# Marketing opens with an imperative: "Get Rs 100 cashback credited ...", "Earn 5X points", "Shop for Rs 999 and
# save", "Make a payment of Rs 500 or more ...", "Dear Customer, avail ...". An alert never starts a sentence that
# way, so up to the sentence with the first amount it blocks even a strong cue. (Not after a colon: "At: GET FIT
# GYM" is a field label and a merchant.)
_PROMOTION_START = re.compile(
    r"(?:^|[.!?]\s{1,3}|\n|\bdear\s{1,3}[a-z]{1,20}[,!]?\s{1,3})(?:now\s{1,3}|just\s{1,3})?"
    r"(?:get|earn|enjoy|avail|grab|shop|win|save|buy|book|download|click|apply|hurry|unlock|redeem|upgrade|"
    r"claim\s{1,3}(?:your|now|it|the|this)|"
    r"invest|refer|spend|make\s{1,3}(?:a|your|any)|pay\s{1,3}(?:your|now|via|using|with)|"
    r"recharge\s{1,3}(?:with|now|for|today))\b"
)

# --- account and card references ---------------------------------------------------------------------------------

# An account/card word (also tarjeta, cartão, cuenta, conta, "final 1234"), then a few connectors ("no.",
# "ending in", "number", "#", ":", "(", "last 4 digits"), then the mask.
# US and UK banks name the product instead: "from checking 1234", "savings ...1234", "chequing *1234". A comma may
# stand before the digits ("card, last 4 digits 1234").
_ACCOUNT_WORD = (
    r"(?:a/c|\blast\s(?:4|four)\b|\b(?:ac|acc|acct|acnt|accnt|account|card|ending|tarjeta|cartão|cuenta|conta|final|checking|chequing|"
    r"savings|iban)\b)"
)
_CONNECTOR = r"(?:\s{1,3}|[.:#(,-]|\b(?:no|number|ending|in|with|is|digits)\b|\blast\s(?:4|four)(?:\sdigits)?\b)"
# A mask: an optional letter prefix ("CK0000"), then digits and X/x/*/#/./- in any order ("XXXXXXXX00341234",
# "074-260***-006", "123xxxx7655", "...5494", "…5494", "201***123456"); or space-separated groups of mask
# characters before the digits ("XXXX XXXX XXXX 1234"; not "XX1234 2025", a mask and a year), possibly after an
# unmasked first group ("4321 XXXX XXXX 1234", card numbers show their first digits) or an IBAN's country and check
# digits ("DE89 **** **** 1234"). A product prefix may be set off by a dash or slash ("SB-1234", "CA/0001234").
_MASK = (
    # an IBAN, grouped or not: "AE07 0331 2345 6789 0123 456", "DE89370400440532013000"
    r"(?P<mask>[a-z]{2}[0-9]{2}(?:\s?[0-9x*]{4}){2,7}(?:\s?[0-9x*]{1,4})?(?![0-9a-z])|(?:[a-z]{2}[0-9]{2}\s|[0-9]{4,6}\s)?(?:[x*•]{2,4}\s){1,3}[x*•]{0,4}[0-9]{3,4}(?![0-9a-z])"
    r"|(?:[a-z]{1,3}[-/]?(?=[0-9]))?[x*#•….0-9-]{3,30})"
)
_ACCOUNT = re.compile(_ACCOUNT_WORD + _CONNECTOR + "{0,6}" + _MASK)
# A card linked to an account: the money left the account ("debit card XXX1234 linked to acc. XXX810001").
_LINKED = re.compile(
    r"\blinked\s{1,3}(?:to|with)\s{1,3}(?:your\s{1,3})?(?:a/c|\b(?:acc|acct|account)\b)" + _CONNECTOR + "{0,4}" + _MASK
)
# A mask with no account word before it: "**1234 had a transaction", "Sent Rs.51 from XXXXXX9722", "CHK ...1234".
# A product-prefixed account number with no account word: "debited from SAV1234", "(part of SB-001234)", "to your
# CA1234", "CC 1234"-style card accounts: savings (SB, SAV, SA), current (CA), cash-credit/card (CC), overdraft (OD),
# NRE/NRO, checking (CHK) and cheque (CHQ, CHEQ) accounts, then digits or a mask ("CHK 1234": the longer ones may
# stand a space apart).
_PRODUCT_MASK = re.compile(
    r"(?<![a-z0-9])(?:sb|sa|ca|cc|od|(?:sav|nre|nro|chk|chq|cheq)\s?)[-:/]?(?P<mask>[x*0-9]{0,14}[0-9]{3,8})(?![0-9a-z])"
)
_BARE_MASK = re.compile(r"(?<![\w*•.])(?P<mask>[0-9]{0,6}(?:[x*•]{2,14}|\.{3}|…)[0-9]{3,8})(?![0-9a-z])")


def _mask(raw: str) -> str | None:
    digits = "".join(ch for ch in raw if "0" <= ch <= "9")
    if len(digits) < 3 or not raw.rstrip(".-")[-1:].isdigit():
        return None
    return "XX" + digits[-4:]


# The other side's account, right before its account word: "to A/c XX5678" in a debit, "from A/c XX9999" in a
# credit ("IMPS to A/c XX5678 from A/c XX1234", "received from account XX4321 in your A/c XX1234").
_OTHER_SIDE = {
    "debit": re.compile(r"\b(?:to|beneficiary|payee|credited\s{1,3}to)\s{1,3}(?:the\s{1,3})?(?:[a-z]{1,12}\s{1,3})?$"),
    "credit": re.compile(r"\b(?:from|by|sender|remitter)\s{1,3}(?!your\b)(?:[a-z]{1,12}\s{1,3})?$"),
}


def _account(low: str, direction: str) -> str | None:
    """This SMS's own account or card: after a card-to-account link, else the first account/card mask that is not
    the other side's, else the first one, else a bare mask."""
    linked = next((mask for m in _LINKED.finditer(low) if (mask := _mask(m["mask"]))), None)
    if linked:
        return linked
    other = _OTHER_SIDE[direction]
    first = None
    for m in _ACCOUNT.finditer(low):
        mask = _mask(m["mask"])
        if mask:
            if not other.search(low, max(0, m.start() - 24), m.start()):
                return mask
            first = first or mask
    for pattern in (_PRODUCT_MASK, _BARE_MASK):
        first = first or next((mask for m in pattern.finditer(low) if (mask := _mask(m["mask"]))), None)
    return first


# --- reference, counterparty, time, channel (original case) ------------------------------------------------------

_REF = re.compile(
    r"(?:UPI\s{0,2}Ref(?:\.|erence)?\s{0,2}(?:no\.?|No)?|UPI:|IMPS\s{0,2}Ref\s{0,2}no|\bRef(?:\.|erence)?\s{0,2}"
    r"(?:no\.?)?|Txn\s{0,2}ID|NEFT/|\bRRN\b|\bUTR\b)\s{0,2}[:#]?\s{0,2}([A-Z0-9]{6,64})",
    re.I,
)
_COUNTERPARTY = [
    re.compile(r"\bto\s{1,3}([\w.\-]{1,64}@[\w.\-]{1,64})", re.I),  # a VPA
    re.compile(r"and credited to a/c no\.?\s{0,3}[X*]{0,16}([0-9]{3,6})", re.I),
    re.compile(r"\bNEFT/[A-Z0-9]{1,40}/([^.]{1,80}?)\.", re.I),
    re.compile(r"\bSAL-([A-Z][\w &]{0,60}?)\.", re.I),
    re.compile(r"\bfrom\s{1,3}([A-Z][\w .&*-]{0,60}?)\s{1,3}has been credited", re.I),
    re.compile(r"\bfrom\s{1,3}([A-Z][A-Z .&*-]{0,60}?)\.\s", re.I),
    re.compile(r"\bpaid\s{1,3}\S{1,20}\s{1,3}to\s{1,3}([\w .&*-]{1,60}?)\.", re.I),
    re.compile(r"\bat\s{1,3}([A-Z][\w .&*'-]{0,60}?)\s{1,3}(?:on|was)\b", re.I),
    # UPI narrations name the other side between slashes: "UPI/DR/651122781360/UK FOOD/".
    re.compile(r"\bUPI/(?:DR|CR)/[0-9A-Z]{6,20}/([^/|]{1,60})/", re.I),
    # A payee after "to": "to:John Smith.", "to JOHN SMITH on".
    re.compile(r"\bto:?\s{0,2}([A-Z][\w .&'-]{1,60}?)(?:\.|\s{1,3}on\b|\s{1,3}via\b|\s{0,3}\()", re.I),
]
_DATES = [
    (re.compile(r"\b([0-9]{2}-[0-9]{2}-[0-9]{4})\b"), "%d-%m-%Y"),
    (re.compile(r"\b([0-9]{2}-[0-9]{2}-[0-9]{2})\b"), "%d-%m-%y"),
    (re.compile(r"\b([0-9]{2}-[A-Za-z]{3}-[0-9]{2})\b"), "%d-%b-%y"),
    (re.compile(r"\b([0-9]{2}[A-Za-z]{3}[0-9]{2})\b"), "%d%b%y"),
    (re.compile(r"\b([A-Z][a-z]{2} [0-9]{2}, [0-9]{4})\b"), "%b %d, %Y"),
]
_CHANNEL = re.compile(r"\b(upi|imps|neft|rtgs|atm|emi|salary|card|revolut)\b")
_CHANNEL_ORDER = ["upi", "imps", "neft", "rtgs", "atm", "emi", "salary", "card", "revolut"]
_CHANNEL_NAME = {"salary": "neft", "revolut": "card"}


def _channel(low: str) -> str | None:
    words = {m[1] for m in _CHANNEL.finditer(low)}
    word = next((w for w in _CHANNEL_ORDER if w in words), None)
    return _CHANNEL_NAME.get(word, word) if word else None


def _category(low: str, channel: str | None, direction: str | None) -> str | None:
    if "salary" in low or "sal-" in low:
        return "salary"
    if "refund" in low or "reversed" in low:
        return "refund"
    if channel == "emi" or "loan" in low:
        return "loan"
    if channel == "atm":
        return "cash"
    if channel in ("upi", "neft", "imps", "rtgs"):
        return "transfer"
    if channel == "card":
        return "shopping"
    return "other" if direction else None


# --- the decision -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Found:
    start: int
    end: int
    direction: str
    strong: bool


class _Amounts:
    """Amounts sorted by position (they do not overlap), to find the ones next to a cue in O(log n)."""

    def __init__(self, money: list[_Money]) -> None:
        self.money, self.starts, self.ends = money, [x.start for x in money], [x.end for x in money]

    def around(self, start: int, end: int) -> list[_Money]:
        """The amount ending last at or before ``start`` and the first one starting at or after ``end``."""
        i, j = bisect_left(self.ends, start + 1), bisect_left(self.starts, end)
        return ([self.money[i - 1]] if i > 0 else []) + ([self.money[j]] if j < len(self.money) else [])

    def nearest(self, start: int, end: int) -> _Money:
        """The amount closest to the span (one of its two neighbours; the first amount if none)."""
        return min(self.around(start, end) or self.money[:1], key=lambda m: max(m.start - end, start - m.end, 0))


# A completion word may come far after its noun in one long sentence: "Your payment of Rs 1,499.00 from your
# account XX2290 towards the MOBILE BILL for the month of March has been processed successfully." Past the first 100
# characters it counts only up to the end of the noun's sentence (at most COMPLETION_REACH characters), so that a
# promotion's "orders processed within a day" two sentences on does not complete its "make a payment". Periods
# after abbreviations ("Rs.", "A/c no.", "Dr.") and before a digit do not end a sentence.
COMPLETION_REACH = 320
_CLAUSE_END = re.compile(
    r"[.!?](?<!\brs.)(?<!\bno.)(?<!\bac.)(?<!a/c.)(?<!acct.)(?<!\bdr.)(?<!\bcr.)(?<!\bmr.)(?<!\bms.)(?<!\bst.)"
    r"(?<!inr.)(?<!\bref.)(?<!\bavl.)(?<!\bbal.)(?<!\bamt.)(?<!\btxn.)(?:\s(?![0-9])|$)|[|\n]"
)


def _clause_end(low: str, start: int) -> int:
    end = _CLAUSE_END.search(low, start, start + COMPLETION_REACH)
    return end.start() if end else min(len(low), start + COMPLETION_REACH)


def _cues(low: str, text: str, money: list[_Money]) -> list[_Found]:
    amounts = _Amounts(money)
    found: list[_Found] = []
    names_account: bool | None = None  # decided on first need
    for cue in _CUES:
        for m in cue.pattern.finditer(low):
            strong = cue.strong
            if cue.near_amount:  # "Sent Rs.500", "Rs. 2,000 received in", "received payment of Rs 500"
                strong = any(
                    x.currency
                    and (_FILLER.fullmatch(low, m.end(), x.start) or _FILLER.fullmatch(low, x.end, m.start()))
                    for x in amounts.around(m.start(), m.end())
                )
            elif cue.completes:  # "Payment of Rs 150.50 ... successful", "Transaction for $3.26 was approved"
                strong = bool(_COMPLETED.search(low, m.end(), m.end() + 100)) or bool(
                    _COMPLETED.search(low, m.end(), _clause_end(low, m.end()))
                )
                if cue.only_completed and not strong:
                    strong = bool(_COMPLETED.search(low, max(0, m.start() - 48), m.start()))
            if cue.attached and not any(
                x.currency
                and (
                    0 <= x.start - m.end() <= 1
                    if cue.attached == "before"
                    else 0 <= m.start() - x.end <= 2 and not low[x.end : m.start()].strip()
                )
                for x in amounts.around(m.start(), m.end())
            ):
                continue
            if cue.attached == "merchant":
                if names_account is None:
                    names_account = any(p.search(low) for p in (_ACCOUNT, _PRODUCT_MASK, _BARE_MASK))
                if not (names_account and text[m.end()].isupper()):
                    continue
            if strong or not cue.only_completed:
                found.append(_Found(m.start(), m.end(), cue.direction, strong))
    # Two cues on one word ("credited to the beneficiary" is also "credited"): the longer, more specific one.
    found.sort(key=lambda f: (f.start, -(f.end - f.start)))
    kept: list[_Found] = []
    for f in found:
        if not kept or f.start >= kept[-1].end:
            kept.append(f)
    return kept


# ... or heading it as a noun: "ACH DR of Rs 5,000", "NEFT Cr for INR 900".
_TAG_OF = re.compile(r"[\s.:-]{0,3}(?:of|for)\s{1,3}")


def _drcr(low: str, money: list[_Money]) -> list[_Found]:
    tags, amounts = [], _Amounts(money)
    for m in _DRCR.finditer(low):
        near = amounts.around(m.start(), m.end())
        if any(
            not x.balance
            and (0 <= m.start() - x.end <= 2 or 0 <= x.start - m.end() <= 3 or _TAG_OF.fullmatch(low, m.end(), x.start))
            for x in near
        ):
            tags.append(_Found(m.start(), m.end(), "debit" if m[1][0] == "d" else "credit", True))
    return tags


def _future(low: str, amounts: list[_Money], strong: list[_Found], lead_end: int) -> bool:
    """A future phrase that is not a side note to a past-tense movement of another amount, nor a footer after an
    alert. Cues and phrases find their amounts by bisection and the cues are counted per amount once, so this stays
    O(n log n)."""
    futures = list(_FUTURE.finditer(low))
    if not futures:
        return False
    index = _Amounts(amounts)
    future_starts = [f.start() for f in futures]

    def in_future(c: _Found) -> bool:  # "will be *debited*" is no past tense
        k = bisect_left(future_starts, c.start + 1)
        return k > 0 and futures[k - 1].end() >= c.end

    past = [
        (c, index.nearest(c.start, c.end)) for c in strong if _PAST.search(low, c.start, c.end) and not in_future(c)
    ]
    per_amount: dict[int, int] = {}
    for _, x in past:
        per_amount[x.start] = per_amount.get(x.start, 0) + 1
    happened = any(c.start < lead_end for c, _ in past)  # a movement in the alert's lead sentence
    for f in futures:
        if _CONDITION.search(low, max(0, f.start() - 80), f.start()):
            continue  # "If the txn fails, the amount will be refunded": what would happen, not what did
        about = index.nearest(f.start(), f.end())
        if happened and f.start() >= lead_end:
            start, end = (about.end, f.start()) if about.start < f.start() else (f.end(), about.start)
            if _CLAUSE_END.search(low, start, end):
                continue  # "Rs 500 spent on card XX. Reward points will be credited in 7 days.": a footer
        if len(past) - per_amount.get(about.start, 0) <= 0:  # no past-tense cue about another amount
            return True
    return False


def _blocked(low: str, amounts: list[_Money], strong_cues: list[_Found]) -> tuple[bool, bool]:
    """(strongly blocked, weakly blocked)."""
    first_amount = amounts[0]
    end = _SENTENCE_END.search(low, first_amount.end)
    lead_end = end.start() if end else len(low)
    otp = bool(_OTP_CODE.search(low)) or any(
        not _OTP_FOOTER.search(low, max(0, m.start() - 40), m.start()) for m in _OTP.finditer(low, 0, lead_end)
    )
    # A failure counts up to the sentence with the amount: "If txn failed, call us" in a footer does not.
    failed = bool(_FAILED.search(low, 0, lead_end)) and not _REFUND.search(low)
    strong = otp or failed or any(p.search(low) for p in _STRONG_BLOCKERS)
    strong = strong or _future(low, amounts, strong_cues, lead_end)
    strong = strong or any(p.search(low, 0, lead_end) for p in (_PROMOTION_START, _CONDITIONAL_CHARGE))
    lead = _LEAD_BLOCKERS.search(low, 0, lead_end)
    return strong, bool(lead) or any(p.search(low) for p in _WEAK_BLOCKERS)


def _truncate(result: dict[str, Any]) -> dict[str, Any]:
    for key, limit in _LIMITS.items():
        if isinstance(result[key], str):
            result[key] = result[key][:limit]
    return result


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
    text = _normalise(body)
    low = text.translate(_LOWER)
    money = _money(low)
    if not money:  # no amount, no transaction: most OTPs, notices and greetings stop here
        result["confidence"] = 0.95
        return result
    cues = _cues(low, text, money)
    money = _balances(low, money, sorted(f.start for f in cues))
    cues = sorted(cues + _drcr(low, money), key=lambda f: f.start)
    # (a zero amount, "Rs 0 fee", is never what moved)
    amounts = [m for m in money if not m.balance and m.value > 0]
    strong = [f for f in cues if f.strong]
    weak = [f for f in cues if not f.strong]
    strong_block, weak_block = _blocked(low, amounts, strong) if amounts and cues else (False, False)
    if not amounts or strong_block or not (strong or (weak and not weak_block)):
        result["confidence"] = 0.85 if amounts else 0.95
        return result
    cue = (strong or weak)[0]
    # The amount the deciding cue is about: the nearest one, before or after it.
    chosen = min(amounts, key=lambda m: max(m.start - cue.end, cue.start - m.end, 0))
    currency = chosen.currency or next((m.currency for m in money if m.currency), "INR")
    result.update(
        is_transaction=True,
        direction=cue.direction,
        amount=chosen.value,
        currency=currency,
        balance=next((m.value for m in money if m.balance and not m.threshold and m.start > chosen.start), None),
        confidence=0.9 if strong else 0.75,
        account_mask=_account(low, cue.direction),
    )
    ref = _REF.search(text)
    if ref:
        result["reference"] = ref.group(1)
    for pattern in _COUNTERPARTY:
        found = pattern.search(text)
        if found:
            name = found.group(1).strip().rstrip(".")
            result["counterparty"] = f"XX{name}" if name.isdigit() else name
            break
    for pattern, fmt in _DATES:
        dated = pattern.search(text)
        if dated:
            try:
                result["transaction_time"] = datetime.strptime(dated.group(1), fmt).date().isoformat()
                break
            except ValueError:
                continue
    if result["transaction_time"] is None and received_at is not None:
        result["transaction_time"] = received_at.isoformat()
    result["channel"] = _channel(low)
    result["category"] = _category(low, result["channel"], cue.direction)
    return _truncate(result)
