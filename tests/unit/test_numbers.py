import pytest

from callengine.calls.numbers import to_e164


@pytest.mark.parametrize("raw,expected", [
    ("081234567890", "+6281234567890"),
    ("6281234567890", "+6281234567890"),
    ("+6281234567890", "+6281234567890"),
    ("006281234567890", "+6281234567890"),
    ("0541 123456", "+62541123456"),       # Samarinda landline with trunk prefix
    ("(0285) 421-112", "+62285421112"),    # Pekalongan, written with punctuation
])
def test_indonesian_forms_become_e164(raw: str, expected: str) -> None:
    assert to_e164(raw) == expected


@pytest.mark.parametrize("raw", [None, "", "anonymous", "Anonymous", "unknown", "sipp", "12", "08abc", "+62" + "9" * 20])
def test_withheld_or_garbage_is_none(raw: str | None) -> None:
    assert to_e164(raw) is None


@pytest.mark.parametrize("raw", ["+62٨١٢٣٤٥٦٧٨٩", "0812345678²", "０８１２３４５６７８９"])
def test_digits_other_than_ascii_are_not_a_number(raw: str) -> None:
    assert to_e164(raw) is None
