"""Message-size parsing and formatting."""

from __future__ import annotations

import pytest

from ipcbench.core.sizes import MAX_SIZE_BYTES, format_size, parse_size


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("64", 64),
        ("64B", 64),
        ("4KiB", 4096),
        ("4kib", 4096),
        ("4K", 4096),
        ("1MiB", 1 << 20),
        ("1 MiB", 1 << 20),
        (" 2MiB ", 2 << 20),
        ("1GiB", 1 << 30),
        (4096, 4096),
    ],
)
def test_parse_size_accepts(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("0", "at least 1 byte"),
        (0, "at least 1 byte"),
        ("-5", "expected a positive whole number"),
        (-5, "at least 1 byte"),
        ("12XB", "unknown unit 'XB'"),
        ("abc", "expected a positive whole number"),
        ("", "expected a positive whole number"),
        ("1.5MiB", "expected a positive whole number"),
        ("2GiB", "1GiB limit"),
        (MAX_SIZE_BYTES + 1, "1GiB limit"),
    ],
)
def test_parse_size_rejects_with_one_line_naming_the_value(text, needle):
    with pytest.raises(ValueError) as info:
        parse_size(text)
    message = str(info.value)
    assert needle in message
    assert repr(text) in message
    assert "\n" not in message


def test_parse_size_limit_is_inclusive():
    assert parse_size(MAX_SIZE_BYTES) == MAX_SIZE_BYTES


@pytest.mark.parametrize(
    ("size_bytes", "text"),
    [(1, "1B"), (64, "64B"), (1023, "1023B"), (1024, "1KiB"), (4096, "4KiB"),
     (1536 * 1024, "1.5MiB"), (1 << 20, "1MiB"), (1 << 30, "1GiB")],
)
def test_format_size(size_bytes, text):
    assert format_size(size_bytes) == text


@pytest.mark.parametrize("size_bytes", [1, 64, 4096, 65536, 1 << 20, 16 << 20, 1 << 30])
def test_format_then_parse_round_trips_powers_of_two(size_bytes):
    assert parse_size(format_size(size_bytes)) == size_bytes


@pytest.mark.parametrize(("lead", "text"), [(0.421, "+42%"), (0.0497, "+5%"), (0.00357, "+0.4%"),
                                            (1.05, "+105%"), (float("nan"), "–")])
def test_a_winners_lead_has_no_digits_the_noise_cannot_back(lead, text):
    from ipcbench.core.units import format_lead

    assert format_lead(lead) == text
