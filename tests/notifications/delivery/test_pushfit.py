"""Fitting push text into 4 KB: character boundaries, JSON escaping, the title kept whole while the body can give."""

from notifications.delivery.pushfit import PAYLOAD_MAX_BYTES, payload_size, text_cut, text_fit


def _payload(title: str, body: str) -> dict:
    return {"aps": {"alert": {"title": title, "body": body}}, "id": "x" * 36}


def test_a_cut_never_splits_a_character():
    assert text_cut("😀😀😀", 9) == "😀…"  # 4 + 3 bytes: a second emoji would not fit with the ellipsis
    assert text_cut("short", 100) == "short"
    assert text_cut("abc", 2) == ""


def test_text_that_escapes_in_json_still_fits():
    # quotes and newlines take two bytes each once encoded
    title, body = text_fit('"' * 200, '"\n' * 1000, _payload)
    assert payload_size(_payload(title, body)) <= PAYLOAD_MAX_BYTES
    assert title == '"' * 200 and body.endswith("…")


def test_the_title_is_cut_only_when_the_body_is_gone():
    title, body = text_fit("😀" * 1100, "body", _payload)
    assert body == "" and title.endswith("…")
    assert payload_size(_payload(title, body)) <= PAYLOAD_MAX_BYTES


def test_text_that_fits_is_untouched():
    assert text_fit("Hi", "there", _payload) == ("Hi", "there")
