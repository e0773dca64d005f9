"""The pure SSE encoder, read back by a WHATWG-conformant parser exactly as a browser would."""

from __future__ import annotations

import random
import re

import pytest

from liveevents.sse import KEEPALIVE, check_field_value, encode_comment, encode_event, encode_retry
from liveevents.testing.parser import EventStreamParser, ParsedEvent


def parse(*chunks: bytes) -> EventStreamParser:
    parser = EventStreamParser()
    for chunk in chunks:
        parser.feed(chunk)
    return parser


def parse_bytewise(payload: bytes) -> EventStreamParser:
    """Feed one byte at a time: line breaks and UTF-8 sequences split across reads."""
    parser = EventStreamParser()
    for index in range(len(payload)):
        parser.feed(payload[index : index + 1])
    return parser


def normalise(data: str) -> str:
    """What a browser hands to the page: every CRLF, CR or LF becomes LF."""
    return re.sub(r"\r\n|\r|\n", "\n", data)


def only_event(payload: bytes) -> ParsedEvent:
    parser = parse(payload)
    assert len(parser.events) == 1, parser.events
    return parser.events[0]


# Data -----------------------------------------------------------------------------------------

TRICKY_DATA = {
    "plain": "hello",
    "lf": "a\nb",
    "cr": "a\rb",
    "crlf": "a\r\nb",
    "mixed": "one\ntwo\rthree\r\nfour\n\rfive",
    "lf-cr-is-two-breaks": "a\n\rb",
    "trailing-lf": "abc\n",
    "trailing-crlf": "abc\r\n",
    "leading-lf": "\nabc",
    "leading-cr": "\rabc",
    "leading-crlf": "\r\nabc",
    "only-lf": "\n",
    "only-cr": "\r",
    "only-crlf": "\r\n",
    "many-blank-lines": "\n\n\n",
    "lone-cr-at-end": "abc\r",
    "double-cr-at-end": "abc\r\r",
    "nul": "a\x00b",
    "only-nul": "\x00",
    "bom-at-start": "\ufeffabc",
    "bom-mid": "ab\ufeffc",
    "bom-after-break": "a\n\ufeffb",
    "leading-space": " abc",
    "two-leading-spaces": "  abc",
    "trailing-space": "abc ",
    "colon-start": ":not a comment",
    "unicode": "Zürich → 東京 🛬 ✈️ naïve",
    "unicode-line-separators-are-not-breaks": "a\u2028b\u2029c\x85d\x0be\x0cf\x1cg",
    "json": '{"flight":"I768","origin":"Rome","arrival":"10:10","state":"landing"}',
    "forged-event": "x\n\nevent: evil\ndata: pwned",
    "forged-event-crlf": "x\r\n\r\nevent: evil\r\ndata: pwned\r\n\r\n",
    "forged-event-cr": "x\r\revent: evil\rdata: pwned\r\r",
    "forged-id": "\r\nid: 999",
    "forged-id-lf": "ok\nid: 999\n",
    "forged-retry": "\nretry: 1\n",
    "forged-comment-and-dispatch": "a\n\n: comment\n\ndata: b\n\n",
    "field-names-alone": "data\nevent\nid\nretry",
}


@pytest.mark.parametrize("data", TRICKY_DATA.values(), ids=TRICKY_DATA.keys())
def test_data_is_read_back_as_exactly_one_event_with_the_original_text(data: str) -> None:
    payload = encode_event(data, event="flightStateUpdate", id=42)
    parser = parse(payload)
    assert len(parser.events) == 1
    event = parser.events[0]
    assert event.data == normalise(data)
    assert event.event == "flightStateUpdate"
    assert event.last_event_id == "42"
    assert parser.retry is None
    assert parser.comments == []


@pytest.mark.parametrize("data", TRICKY_DATA.values(), ids=TRICKY_DATA.keys())
def test_data_survives_being_read_one_byte_at_a_time(data: str) -> None:
    payload = encode_event(data, event="tick", id=7)
    parser = parse_bytewise(payload)
    assert [(e.event, e.data, e.last_event_id) for e in parser.events] == [("tick", normalise(data), "7")]


@pytest.mark.parametrize("data", TRICKY_DATA.values(), ids=TRICKY_DATA.keys())
def test_encoded_event_contains_no_carriage_return_and_ends_with_one_blank_line(data: str) -> None:
    payload = encode_event(data, event="tick", id=1)
    assert b"\r" not in payload
    assert payload.endswith(b"\n\n")
    assert not payload.endswith(b"\n\n\n")
    payload.decode("utf-8")  # valid UTF-8


@pytest.mark.parametrize("data", TRICKY_DATA.values(), ids=TRICKY_DATA.keys())
def test_events_in_a_row_stay_separate_whatever_their_data(data: str) -> None:
    payload = (
        encode_event(data, event="first", id=1)
        + encode_event("between", event="second", id=2)
        + encode_event(data, event="third", id=3)
    )
    parser = parse(payload)
    assert [(e.event, e.data, e.last_event_id) for e in parser.events] == [
        ("first", normalise(data), "1"),
        ("second", "between", "2"),
        ("third", normalise(data), "3"),
    ]


def test_forged_event_in_data_does_not_change_event_name_or_id() -> None:
    event = only_event(encode_event("x\n\nevent: evil\ndata: pwned", event="noteSaved", id=5))
    assert event.event == "noteSaved"
    assert event.last_event_id == "5"
    assert event.data == "x\n\nevent: evil\ndata: pwned"


def test_forged_id_in_data_does_not_move_the_last_event_id() -> None:
    parser = parse(encode_event("\r\nid: 999", event="tick", id=3))
    assert parser.last_event_id == "3"
    assert [e.data for e in parser.events] == ["\nid: 999"]


def test_every_data_line_is_prefixed_so_no_line_can_be_a_field_of_its_own() -> None:
    payload = encode_event("x\n\nevent: evil\r\nid: 9\rretry: 1\n", event="tick", id=1)
    lines = payload.decode().split("\n")
    assert lines[:2] == ["id: 1", "event: tick"]
    assert lines[2:-2] == ["data: x", "data:", "data: event: evil", "data: id: 9", "data: retry: 1", "data:"]
    assert lines[-2:] == ["", ""]


def test_empty_data_still_dispatches_an_event_with_empty_data() -> None:
    payload = encode_event("", event="closedConnection")
    assert payload == b"event: closedConnection\ndata:\n\n"
    event = only_event(payload)
    assert event.event == "closedConnection"
    assert event.data == ""


def test_empty_data_without_event_name_is_a_message_event() -> None:
    assert only_event(encode_event("")) == ParsedEvent("message", "", "")


def test_event_without_name_or_id_is_a_plain_message() -> None:
    payload = encode_event("hi")
    assert payload == b"data: hi\n\n"
    assert only_event(payload) == ParsedEvent("message", "hi", "")


def test_field_order_is_id_then_event_then_data() -> None:
    assert encode_event("a\nb", event="tick", id=12) == b"id: 12\nevent: tick\ndata: a\ndata: b\n\n"


def test_id_zero_is_written() -> None:
    payload = encode_event("x", event="tick", id=0)
    assert payload.startswith(b"id: 0\n")
    assert only_event(payload).last_event_id == "0"


def test_byte_order_mark_at_the_start_of_data_survives_as_first_bytes_of_the_stream() -> None:
    # Browsers strip one BOM at the very start of the stream; the data's BOM comes after "data: ".
    event = only_event(encode_event("\ufeffabc"))
    assert event.data == "\ufeffabc"


def test_very_long_line_round_trips() -> None:
    data = "x" * 1_000_000 + "é" * 1000 + "\n" + "y" * 1_000_000
    payload = encode_event(data, event="big", id=1)
    event = only_event(payload)
    assert event.data == data
    assert len(payload) > 2_000_000


def test_unicode_is_utf8_encoded() -> None:
    payload = encode_event("東京 🛬", event="arrivée", id=1)
    assert "東京 🛬".encode() in payload
    assert "arrivée".encode() in payload
    event = only_event(payload)
    assert (event.event, event.data) == ("arrivée", "東京 🛬")


def test_utf8_split_across_reads_is_decoded_correctly() -> None:
    payload = encode_event("🛬✈️", event="tick", id=1)
    parser = parse_bytewise(payload)
    assert [e.data for e in parser.events] == ["🛬✈️"]


@pytest.mark.parametrize("data", ["a\ud800b", "\udfff", "x\n\udc80\ny", "\ud83d"])
def test_lone_surrogates_in_data_do_not_crash_and_yield_one_event(data: str) -> None:
    payload = encode_event(data, event="tick", id=1)
    payload.decode("utf-8")  # valid UTF-8: the surrogate was replaced
    event = only_event(payload)
    assert event.event == "tick"
    assert event.data == normalise(data).encode("utf-8", errors="replace").decode()


def test_lone_surrogate_in_event_name_does_not_crash() -> None:
    payload = encode_event("x", event="a\ud800", id=1)
    payload.decode("utf-8")
    assert only_event(payload).event == "a?"


# Event names and ids ---------------------------------------------------------------------------

BAD_FIELD_VALUES = {
    "empty": "",
    "lf": "a\nb",
    "cr": "a\rb",
    "crlf": "a\r\nb",
    "trailing-lf": "tick\n",
    "leading-cr": "\rtick",
    "nul": "a\x00b",
    "only-nul": "\x00",
    "forged-field": "tick\ndata: pwned",
    "forged-event": "tick\n\nevent: evil",
}


@pytest.mark.parametrize("name", BAD_FIELD_VALUES.values(), ids=BAD_FIELD_VALUES.keys())
def test_event_name_with_line_break_nul_or_empty_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match="event name"):
        encode_event("x", event=name, id=1)


@pytest.mark.parametrize("name", BAD_FIELD_VALUES.values(), ids=BAD_FIELD_VALUES.keys())
def test_check_field_value_refuses_line_breaks_nul_and_empty(name: str) -> None:
    with pytest.raises(ValueError):
        check_field_value("id", name)


@pytest.mark.parametrize("name", ["tick", "flightStateUpdate", "a:b", " spaced ", "naïve", "x" * 200])
def test_check_field_value_returns_acceptable_values_unchanged(name: str) -> None:
    assert check_field_value("event name", name) == name


@pytest.mark.parametrize("name", ["a:b", "with space", "trailing ", "ünïcode", "x.y-z_1"])
def test_unusual_but_legal_event_names_round_trip(name: str) -> None:
    assert only_event(encode_event("x", event=name, id=1)).event == name


def test_event_name_with_one_leading_space_round_trips() -> None:
    # "event:  x": the parser strips exactly one space, so the name keeps its own.
    assert only_event(encode_event("x", event=" x")).event == " x"


@pytest.mark.parametrize(
    "bad_id", [*BAD_FIELD_VALUES.values(), "1\n", " 1", "1\r\nevent: evil", "abc", "1.5"]
)
def test_id_that_is_not_an_integer_is_refused(bad_id: object) -> None:
    with pytest.raises(ValueError):
        encode_event("x", event="tick", id=bad_id)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad_id", [-1, True, 1.5])
def test_negative_boolean_or_float_id_is_refused(bad_id: object) -> None:
    # The server answers 400 to a Last-Event-ID that is not a non-negative integer: never write one.
    with pytest.raises(ValueError):
        encode_event("x", event="tick", id=bad_id)  # type: ignore[arg-type]


def test_large_id_is_written_in_full() -> None:
    assert only_event(encode_event("x", id=2**63 - 1)).last_event_id == str(2**63 - 1)


# Property-style: random mixtures of the dangerous pieces ---------------------------------------

PIECES = [
    "a", "Z", "0", " ", ":", "\n", "\r", "\r\n", "\n\n", "\r\r", "\x00", "\ufeff", "é", "🛬",
    "\u2028", "data: ", "event: evil", "id: 999", "retry: 1", ": comment", "data:", "\t",
]  # fmt: skip


def generated_strings(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice(PIECES) for _ in range(rng.randint(0, 12))) for _ in range(count)]


def test_random_mixtures_of_dangerous_pieces_round_trip_one_event_each() -> None:
    samples = generated_strings(500, seed=20240601)
    payload = b"".join(encode_event(data, event=f"e{n}", id=n) for n, data in enumerate(samples))
    assert b"\r" not in payload
    for parser in (parse(payload), parse_bytewise(payload[:20_000]), parse(payload[:1], payload[1:])):
        count = len(parser.events)
        assert count > 0
        expected = [ParsedEvent(f"e{n}", normalise(data), str(n)) for n, data in enumerate(samples)][:count]
        assert parser.events == expected
    assert len(parse(payload).events) == len(samples)
    assert parse(payload).comments == []
    assert parse(payload).retry is None


def test_random_mixtures_as_comments_never_dispatch_an_event() -> None:
    for text in generated_strings(200, seed=7):
        parser = parse(encode_comment(text))
        assert parser.events == []
        assert parser.retry is None
        assert parser.last_event_id == ""


# Retry, comments, keepalive --------------------------------------------------------------------


@pytest.mark.parametrize("milliseconds", [0, 1, 2000, 86_400_000])
def test_encode_retry_sets_the_reconnection_delay(milliseconds: int) -> None:
    payload = encode_retry(milliseconds)
    assert payload == f"retry: {milliseconds}\n\n".encode()
    parser = parse(payload)
    assert parser.retry == milliseconds
    assert parser.events == []


def test_encode_retry_refuses_negative_values() -> None:
    with pytest.raises(ValueError):
        encode_retry(-1)


def test_retry_then_event_as_the_server_writes_them() -> None:
    parser = parse(encode_retry(2000) + encode_event('{"n":1}', event="tick", id=1))
    assert parser.retry == 2000
    assert parser.events == [ParsedEvent("tick", '{"n":1}', "1")]


def test_encode_comment_single_line() -> None:
    assert encode_comment("hello") == b": hello\n\n"
    assert parse(encode_comment("hello")).comments == ["hello"]


@pytest.mark.parametrize(
    ("text", "lines"),
    [
        ("one\ntwo", ["one", "two"]),
        ("one\rtwo", ["one", "two"]),
        ("one\r\ntwo\n", ["one", "two", ""]),
        ("x\n\ndata: evil\n\n", ["x", "", "data: evil", "", ""]),
        ("", [""]),
    ],
)
def test_encode_comment_turns_every_line_into_a_comment_line(text: str, lines: list[str]) -> None:
    payload = encode_comment(text)
    assert b"\r" not in payload
    assert payload == "".join(f": {line}\n" for line in lines).encode() + b"\n"
    parser = parse(payload)
    assert parser.comments == lines
    assert parser.events == []


def test_keepalive_is_a_comment_and_dispatches_nothing() -> None:
    assert KEEPALIVE.startswith(b":")
    assert KEEPALIVE.endswith(b"\n\n")
    parser = parse(KEEPALIVE)
    assert parser.comments == ["keepalive"]
    assert parser.events == []
    assert parser.last_event_id == ""


def test_keepalive_between_events_does_not_disturb_them() -> None:
    parser = parse(encode_event("a", event="tick", id=1) + KEEPALIVE + encode_event("b", event="tick", id=2))
    assert [(e.data, e.last_event_id) for e in parser.events] == [("a", "1"), ("b", "2")]
    assert parser.comments == ["keepalive"]
