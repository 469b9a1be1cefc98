"""A turn's text in spoken form, as a speech model hears and says it: "$49.99" is "forty nine
dollars and ninety nine cents", "RF-2291" is "R F two two nine one", "10:30 a.m." is "ten thirty
a m". Numbers go through num2words; a language num2words does not have (Hindi) keeps its text
unchanged, and `spoken_form` says so by returning None.
"""

from __future__ import annotations

import re

CURRENCY = {"$": ("dollar", "dollars", "cent", "cents"), "€": ("euro", "euros", "cent", "cents"),
            "£": ("pound", "pounds", "penny", "pence"), "₹": ("rupee", "rupees", "paisa", "paise")}
DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]

_MONEY = re.compile(r"([$€£₹])\s?(\d[\d,]*)(?:\.(\d{1,2}))?(?!\d)")
_TIME = re.compile(r"\b(\d{1,2}):(\d{2})\b")
_PERCENT = re.compile(r"(\d+(?:\.\d+)?)\s?%")
_ORDINAL = re.compile(r"\b(\d+)(st|nd|rd|th)\b", re.IGNORECASE)
_ID = re.compile(r"\b([A-Za-z]{1,4})-?(\d+)\b")
_GROUPS = re.compile(r"\b\d{3,4}(?: \d{3,4})+\b")  # account and phone numbers: "4417 2093", "555 0142"
_NUMBER = re.compile(r"\b\d[\d,]*(?:\.\d+)?\b")


def _words(n: float | int, lang: str, to: str = "cardinal") -> str:
    from num2words import num2words

    return num2words(n, lang=lang, to=to).replace("-", " ").replace(",", "")


def _digits(s: str) -> str:
    return " ".join(DIGITS[int(c)] for c in s if c.isdigit())


def _money(m: re.Match, lang: str) -> str:
    one, many, sub_one, sub_many = CURRENCY[m.group(1)]
    whole = int(m.group(2).replace(",", ""))
    out = f"{_words(whole, lang)} {one if whole == 1 else many}"
    if m.group(3):
        cents = int(m.group(3).ljust(2, "0"))
        if cents:
            out += f" and {_words(cents, lang)} {sub_one if cents == 1 else sub_many}"
    return out


def _time(m: re.Match, lang: str) -> str:
    hours, minutes = int(m.group(1)), int(m.group(2))
    if minutes == 0:
        return f"{_words(hours, lang)} o'clock"
    return f"{_words(hours, lang)} {'oh ' if minutes < 10 else ''}{_words(minutes, lang)}"


def _number(token: str, lang: str) -> str:
    plain = token.replace(",", "")
    if "." in plain:
        whole, frac = plain.split(".")
        return f"{_words(int(whole), lang)} point {_digits(frac)}"
    if (len(plain) > 1 and plain.startswith("0")) or (len(plain) >= 5 and "," not in token):
        return _digits(plain)  # a code or an order number, read digit by digit
    if len(plain) == 4 and 1900 <= int(plain) <= 2099 and "," not in token:
        return _words(int(plain), lang, "year")
    return _words(int(plain), lang)


def spoken_form(text: str, language: str) -> str | None:
    """`text` with numbers, amounts, times, percentages and ids written out as words; None when
    num2words has no such language (the text is then left as written)."""
    lang = language.split("-")[0].lower()
    try:
        _words(1, lang)
    except (NotImplementedError, ImportError):
        return None
    s = _MONEY.sub(lambda m: _money(m, lang), text)
    s = _TIME.sub(lambda m: _time(m, lang), s)
    s = _PERCENT.sub(lambda m: f"{_number(m.group(1), lang)} percent", s)
    s = _ORDINAL.sub(lambda m: _words(int(m.group(1)), lang, "ordinal"), s)

    def ident(m: re.Match) -> str:
        letters, number = m.group(1), m.group(2)
        said = " ".join(letters) if letters.isupper() else letters
        return f"{said} {_digits(number) if len(number) >= 4 else _words(int(number), lang)}"
    s = _ID.sub(ident, s)
    s = _GROUPS.sub(lambda m: _digits(m.group(0)), s)
    s = _NUMBER.sub(lambda m: _number(m.group(0), lang), s)
    s = re.sub(r"\b([ap])\.m\.(?=\W|$)", lambda m: f"{m.group(1)} m", s, flags=re.IGNORECASE)
    return re.sub(r"\s{2,}", " ", s)


__all__ = ["spoken_form"]
