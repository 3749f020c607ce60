"""The wire format: Confluent framing around Avro, and one typed error for anything else."""

from __future__ import annotations

import pytest

from offsetflow import codec

POST = {"post_id": "p-1", "platform": "telegram", "actor_id": "a-9", "sample_seed": 42}


def test_encoded_records_carry_the_confluent_header_with_the_schema_id() -> None:
    schema = codec.load(codec.POST_ID)
    payload = schema.encode(POST)
    assert payload[0] == 0
    assert int.from_bytes(payload[1:5], "big") == schema.schema_id


def test_records_round_trip_with_unicode() -> None:
    schema = codec.load(codec.SMS_RAW)
    record = {"sms_id": "s1", "user_id": "u1", "sender": "VK-HDFCBK", "body": "₹500 debited 😀", "received_at": 0}
    decoded = schema.decode(schema.encode(record))
    assert decoded["body"] == "₹500 debited 😀"


def test_every_schema_has_a_distinct_id() -> None:
    ids = [codec.load(name).schema_id for name in (codec.POST_ID, codec.SMS_RAW, codec.DEAD_LETTER)]
    assert len(set(ids)) == len(ids)


@pytest.mark.parametrize(
    "payload",
    [
        None,
        b"",
        b"\x00\x00\x00",
        b"\x01\x00\x00\x00\x01\x02x",  # wrong magic byte
        b"\x00\x00\x00\x00\x02\x02x",  # another schema's id
        b"\x00\x00\x00\x00\x01\xff\xff\xff",  # corrupt body
        b'{"post_id": "p-1"}',  # JSON, not Avro
    ],
)
def test_malformed_payloads_raise_decode_error(payload: bytes | None) -> None:
    with pytest.raises(codec.DecodeError):
        codec.load(codec.POST_ID).decode(payload)


def test_trailing_bytes_are_a_decode_error() -> None:
    schema = codec.load(codec.POST_ID)
    with pytest.raises(codec.DecodeError, match="trailing"):
        schema.decode(schema.encode(POST) + b"\x00")
