"""The stored row for one SMS: the extraction plus who, when, and which model made it."""

from __future__ import annotations

from typing import Any

import polars as pl

TRANSACTION_ROW_SCHEMA: dict[str, Any] = {
    "sms_id": pl.String,
    "user_id": pl.String,
    "sender": pl.String,
    "received_at": pl.Datetime("ms", "UTC"),
    "is_transaction": pl.Boolean,
    "amount": pl.Float64,
    "currency": pl.String,
    "direction": pl.String,
    "account_mask": pl.String,
    "counterparty": pl.String,
    "transaction_time": pl.String,
    "balance": pl.Float64,
    "reference": pl.String,
    "channel": pl.String,
    "category": pl.String,
    "confidence": pl.Float64,
    "model": pl.String,
    "prompt_version": pl.String,
}

# What the LLM request(s) behind a result cost, in USD (``Extracted.costs``), kept on the result in MongoDB so
# spending per user survives crashes and restarts (``offsetflow stats sms``). It is not a column of the files:
# it is bookkeeping about the run, not something the SMS said, and a new column would part the chunk files and
# Delta table already written from those written after. The file sinks type rows by the schema above and drop it.
LLM_COST = "llm_cost_usd"
