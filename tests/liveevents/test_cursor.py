"""The cursor: a connection's position in every stream it follows, as one Last-Event-ID."""

from __future__ import annotations

import pytest

from liveevents.cursor import MalformedPosition, format_cursor, parse_cursor, parse_id


def test_format_puts_the_events_own_stream_first_then_the_others_in_order() -> None:
    positions = {"flights": 1203, "announcements": 7, "terminal.2": 41}
    order = ("flights", "announcements", "terminal.2")
    assert format_cursor(positions, "terminal.2", order) == "terminal.2:41,flights:1203,announcements:7"
    assert format_cursor(positions, "flights", order) == "flights:1203,announcements:7,terminal.2:41"


def test_format_of_one_stream() -> None:
    assert format_cursor({"flights": 0}, "flights", ("flights",)) == "flights:0"


def test_parse_reads_every_pair() -> None:
    assert parse_cursor("terminal.2:41,announcements:7,flights:1203") == {
        "terminal.2": 41,
        "announcements": 7,
        "flights": 1203,
    }


def test_parse_undoes_format() -> None:
    positions = {"a": 1, "b-c_D.9": 0, "x" * 80: 9_223_372_036_854_775_807}
    assert parse_cursor(format_cursor(positions, "a", tuple(positions))) == positions


def test_parse_tolerates_surrounding_whitespace() -> None:
    assert parse_cursor("  flights:3 ") == {"flights": 3}


@pytest.mark.parametrize(
    "raw",
    [
        "12",  # a plain id: this endpoint needs stream:id pairs
        "flights",
        "flights:",
        ":3",
        "flights:-1",
        "flights:1.5",
        "flights:abc",
        "flights:1,",
        ",flights:1",
        "flights:1,,news:2",
        "flights:1;news:2",
        "flights:1,flights:2",  # twice
        "flights:" + "9" * 20,  # beyond a 64-bit id
        "flights:١٢",  # digits, but not ASCII ones
    ],
)
def test_parse_refuses_a_malformed_cursor(raw: str) -> None:
    with pytest.raises(MalformedPosition):
        parse_cursor(raw)


def test_the_message_of_a_malformed_cursor_is_bounded() -> None:
    with pytest.raises(MalformedPosition) as raised:
        parse_cursor("x" * 5000)
    assert len(str(raised.value)) < 200


@pytest.mark.parametrize(("raw", "value"), [("0", 0), ("42", 42), (" 7 ", 7), ("9" * 19, int("9" * 19))])
def test_parse_id_reads_a_plain_id(raw: str, value: int) -> None:
    assert parse_id(raw) == value


@pytest.mark.parametrize("raw", ["-1", "1.0", "abc", "", "9" * 20, "٣", "1 2"])
def test_parse_id_refuses_anything_else(raw: str) -> None:
    with pytest.raises(MalformedPosition, match="not a non-negative integer"):
        parse_id(raw)
