"""Masking of personal data (LGPD): keyed tokens, display masks, generalisation, redaction.

Pure standard-library functions, used by the producers and the batch jobs; ``spark_masking``
offers the same operations as Spark columns and must give the same output for the same input.

Tokens are ``"v<key_version>:<hex>"``: the key version, a colon, then the 64 lowercase hex
characters of HMAC-SHA256(key, message), e.g. ``v3:5f0c...e1`` (67 characters for a one-digit
version). From key version 2 the message is ``kind NUL normalised value`` (UTF-8), so a CPF, a
phone and a raw value with the same digits give three unrelated tokens; version-1 keys MAC the
normalised value alone and stay readable until rotated (``lakehouse vault rotate-masking-key``
then ``lakehouse batch backfill`` re-tokenise). A keyed HMAC, never a plain or salted SHA-256:
a CPF has about 10^9 values, so an unkeyed hash is reversed by enumeration. The version in the
output tells which key made a token, so tokens of two key versions never collide silently.

Regular expressions are module constants that ``spark_masking`` hands to Spark unchanged, so
they are written in the common subset of Python ``re`` and Java regex: ASCII classes such as
``[0-9]`` (Python's ``\\d``, ``\\s`` and ``\\w`` are Unicode-aware, Java's are not), no named
groups, no ``\\Z``/``\\z``, no inline ``(?i)``; lookarounds are fine in both.

Lengths are counted in code points, as Spark does; inputs are expected in NFC (composed
accents), which is what Python and the JVM produce from ordinary text.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
from collections.abc import Callable
from typing import Literal

Kind = Literal["raw", "cpf", "email", "phone"]
KINDS: tuple[Kind, ...] = ("raw", "cpf", "email", "phone")
MIN_KEY_BYTES = 16
# The first key version whose tokens MAC the kind with the value (see the module docstring).
KIND_BOUND_FROM_VERSION = 2

# --- shared regular expressions (Python re == Java regex semantics) ----------------------------

END = r"(?![\s\S])"  # end of input, without the trailing-newline exception of `$`
EDGE_SPACE_PATTERN = r"^[ \t\r\n\f\u00A0]+|[ \t\r\n\f\u00A0]+" + END
NON_DIGIT_PATTERN = r"[^0-9]"
DIGIT_PATTERN = r"[0-9]"
CPF_SEPARATORS_PATTERN = r"[ .\-]"
ELEVEN_DIGITS_PATTERN = r"^[0-9]{11}" + END
NOT_ELEVEN_DIGITS_PATTERN = r"^(?![0-9]{11}" + END + r")[\s\S]*"  # a whole value to drop
COUNTRY_CODE_PATTERN = r"^55(?=[0-9]{10,11}" + END + ")"  # +55 before DDD + 8/9-digit number
LEADING_ZEROS_PATTERN = r"^0+"
# Every character but the first (email parts).
NOT_FIRST_CHAR_PATTERN = r"(?!^)[\s\S]"
# Every character of a name word but its first; words split on blanks, hyphens, apostrophes, dots.
NAME_TAIL_PATTERN = r"(?<=[^ \t\r\n\-'.])[^ \t\r\n\-'.]"
# Every digit followed by at least four more digits: all but the last four.
PHONE_HIDDEN_DIGIT_PATTERN = r"[0-9](?=(?:[^0-9]*[0-9]){4})"
BIRTH_DATE_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}"


def phone_head_pattern(digits: int) -> str:
    """The shortest prefix of a string that holds ``digits`` digits (group 1)."""
    return r"^((?:[^0-9]*[0-9]){" + str(digits) + "})"


# Free-text redaction, applied in this order: e-mails first (they may hold digits), then CPFs
# (an 11-digit run must not be half-eaten as a phone), then phones.
EMAIL_PATTERN = (
    r"[A-Za-z0-9\u00C0-\u00FF._%+\-]+"  # local part, Latin-1 accents allowed
    r"@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}"  # domain
)
CPF_PATTERN = r"(?<![0-9])[0-9]{3}\.?[0-9]{3}\.?[0-9]{3}-?[0-9]{2}(?![0-9])"
PHONE_PATTERN = (
    r"(?<![0-9])(?:"
    r"(?:\+?55[ ]?)?\(?[1-9][0-9]\)?[ ]?9?[0-9]{4}[ \-]?[0-9]{4}"  # with DDD
    r"|9?[0-9]{4}-[0-9]{4}"  # local number: the hyphen is required
    r")(?![0-9])"
)
REDACTIONS: tuple[tuple[str, str], ...] = (
    (EMAIL_PATTERN, "[EMAIL]"),
    (CPF_PATTERN, "[CPF]"),
    (PHONE_PATTERN, "[PHONE]"),
)

_EDGE_SPACE = re.compile(EDGE_SPACE_PATTERN)
_NON_DIGIT = re.compile(NON_DIGIT_PATTERN)
_DIGIT = re.compile(DIGIT_PATTERN)
_CPF_SEPARATORS = re.compile(CPF_SEPARATORS_PATTERN)
_ELEVEN_DIGITS = re.compile(ELEVEN_DIGITS_PATTERN)
_COUNTRY_CODE = re.compile(COUNTRY_CODE_PATTERN)
_LEADING_ZEROS = re.compile(LEADING_ZEROS_PATTERN)
_NOT_FIRST_CHAR = re.compile(NOT_FIRST_CHAR_PATTERN)
_NAME_TAIL = re.compile(NAME_TAIL_PATTERN)
_PHONE_HIDDEN_DIGIT = re.compile(PHONE_HIDDEN_DIGIT_PATTERN)
_BIRTH_DATE = re.compile(BIRTH_DATE_PATTERN)
_REDACTIONS = tuple((re.compile(pattern), label) for pattern, label in REDACTIONS)

# CPF display mask: digits 1-3 and 10-11 hidden, 4-9 shown (as on Brazilian receipts).
CPF_SHOWN_DIGITS = frozenset(range(3, 9))


# --- normalisation ----------------------------------------------------------------------------


def strip_edges(value: str) -> str:
    """``value`` without leading and trailing blanks (space, tab, CR, LF, FF, NBSP)."""
    return _EDGE_SPACE.sub("", value)


def normalise_cpf(value: str | None) -> str | None:
    """The CPF's 11 digits, without dots, hyphen or blanks; None if it has not 11 digits.
    Check digits are not verified here (see ``is_valid_cpf``)."""
    if value is None:
        return None
    digits = _CPF_SEPARATORS.sub("", strip_edges(value))
    return digits if _ELEVEN_DIGITS.match(digits) else None


def normalise_email(value: str | None) -> str | None:
    """The address trimmed and lower-cased; None if empty."""
    if value is None:
        return None
    return strip_edges(value).lower() or None


def normalise_phone(value: str | None) -> str | None:
    """Digits only, without the +55 country code or trunk zeros: ``"+55 11 91234-5678"`` and
    ``"(11) 91234-5678"`` both give ``"11912345678"``. None if no digit is left."""
    if value is None:
        return None
    digits = _LEADING_ZEROS.sub("", _COUNTRY_CODE.sub("", _NON_DIGIT.sub("", value)))
    return digits or None


_NORMALISERS: dict[Kind, Callable[[str | None], str | None]] = {
    "raw": lambda v: v or None,
    "cpf": normalise_cpf,
    "email": normalise_email,
    "phone": normalise_phone,
}


def normalise(value: str | None, kind: Kind) -> str | None:
    """``value`` normalised for ``kind``: ``raw`` leaves it as it is (empty -> None)."""
    try:
        normaliser = _NORMALISERS[kind]
    except KeyError:
        raise ValueError(f"unknown token kind {kind!r}: use one of {KINDS}") from None
    return normaliser(value)


# --- tokens ------------------------------------------------------------------------------------


def check_key(key: bytes, key_version: int) -> None:
    """Refuse a key shorter than 128 bits or a version below 1."""
    if not isinstance(key, bytes | bytearray) or len(key) < MIN_KEY_BYTES:
        raise ValueError(f"a masking key must be at least {MIN_KEY_BYTES} bytes")
    if isinstance(key_version, bool) or not isinstance(key_version, int) or key_version < 1:
        raise ValueError(f"key_version must be an integer >= 1, not {key_version!r}")


def mac_tokeniser(
    key: bytes, key_version: int, kind: Kind = "raw"
) -> Callable[[str | None], str | None]:
    """A function ``normalised value -> token`` for one key and kind (None for None or "").
    The HMAC key schedule, and from key version 2 the kind's prefix, are computed once."""
    check_key(key, key_version)
    if kind not in KINDS:
        raise ValueError(f"unknown token kind {kind!r}: use one of {KINDS}")
    keyed = hmac.new(bytes(key), digestmod=hashlib.sha256)
    if key_version >= KIND_BOUND_FROM_VERSION:
        keyed.update(kind.encode("ascii") + b"\0")
    prefix = f"v{key_version}:"

    def tokenise(normalised: str | None) -> str | None:
        if not normalised:
            return None
        mac = keyed.copy()
        mac.update(normalised.encode("utf-8"))
        return prefix + mac.hexdigest()

    return tokenise


def make_tokeniser(
    key: bytes, key_version: int, kind: Kind = "raw"
) -> Callable[[str | None], str | None]:
    """A function ``value -> token`` for one key and kind: ``normalise`` then ``mac_tokeniser``;
    building it once halves the cost per value against ``token`` in a loop."""
    mac = mac_tokeniser(key, key_version, kind)
    normaliser = _NORMALISERS[kind]
    return lambda value: mac(normaliser(value))


def token(value: str | None, key: bytes, key_version: int, kind: Kind = "raw") -> str | None:
    """``"v<key_version>:" + hex(HMAC-SHA256(key, [kind NUL] normalise(value, kind)))``; None
    when the value is None, empty or does not normalise (a CPF without 11 digits)."""
    return make_tokeniser(key, key_version, kind)(value)


# --- CPF ---------------------------------------------------------------------------------------


def _cpf_check_digit(digits: str) -> int:
    weights = range(len(digits) + 1, 1, -1)
    remainder = sum(int(d) * w for d, w in zip(digits, weights, strict=True)) * 10 % 11
    return 0 if remainder == 10 else remainder


def complete_cpf(base: str) -> str:
    """The 11-digit CPF whose first nine digits are ``base``, with its two check digits (for
    synthetic data)."""
    if len(base) != 9 or not base.isdigit():
        raise ValueError("a CPF base is nine digits")
    first = _cpf_check_digit(base)
    return f"{base}{first}{_cpf_check_digit(base + str(first))}"


def is_valid_cpf(value: str | None) -> bool:
    """True for a CPF with correct check digits, punctuated or not; all-same digits (such as
    ``111.111.111-11``, which pass the arithmetic) are rejected."""
    digits = normalise_cpf(value)
    if digits is None or len(set(digits)) == 1:
        return False
    return complete_cpf(digits[:9]) == digits


# --- display masks ---------------------------------------------------------------------------


def mask_cpf(value: str | None) -> str | None:
    """``"123.456.789-09"`` -> ``"***.456.789-**"``, ``"12345678909"`` -> ``"***456789**"``:
    punctuation and length kept. A value without exactly 11 digits has every digit hidden."""
    if value is None:
        return None
    if len(_DIGIT.findall(value)) != 11:
        return _DIGIT.sub("*", value)
    out, index = [], 0
    for char in value:
        if "0" <= char <= "9":
            out.append(char if index in CPF_SHOWN_DIGITS else "*")
            index += 1
        else:
            out.append(char)
    return "".join(out)


def _keep_first(part: str) -> str:
    return _NOT_FIRST_CHAR.sub("*", part)


def mask_email(value: str | None) -> str | None:
    """``"joao.silva@example.com.br"`` -> ``"j*********@e******.com.br"``: first character of
    the local part and of the domain kept, and the domain's suffix from its first dot. Without
    an ``@`` the whole value is masked but its first character."""
    if value is None:
        return None
    if "@" not in value:
        return _keep_first(value)
    local, domain = value.rsplit("@", 1)
    host, dot, suffix = domain.partition(".")
    return f"{_keep_first(local)}@{_keep_first(host)}{dot}{suffix}"


def phone_shown_head(digits: str) -> int | None:
    """How many leading digits a phone mask shows: the DDD (2), or +55 and the DDD (4), or none
    for a local 8/9-digit number; None when the shape is unknown (then all digits are hidden)."""
    n = len(digits)
    if n in (8, 9):
        return 0
    if n in (10, 11):
        return 2
    if n in (12, 13) and digits.startswith("55"):
        return 4
    return None


def mask_phone(value: str | None) -> str | None:
    """``"(11) 91234-5678"`` -> ``"(11) *****-5678"``: the DDD (and +55) and the last four
    digits shown, format characters kept; a number of unknown shape has every digit hidden."""
    if value is None:
        return None
    head_digits = phone_shown_head(_NON_DIGIT.sub("", value))
    if head_digits is None:
        return _DIGIT.sub("*", value)
    head = ""
    if head_digits:
        match = re.match(phone_head_pattern(head_digits), value)
        head = match.group(1) if match else ""
    return head + _PHONE_HIDDEN_DIGIT.sub("*", value[len(head) :])


def mask_name(value: str | None) -> str | None:
    """``"José da Silva"`` -> ``"J*** d* S****"``: the first letter of each word (accent
    included) kept, the others starred; blanks, hyphens, apostrophes and dots kept."""
    if value is None:
        return None
    return _NAME_TAIL.sub("*", value)


# --- generalisation ----------------------------------------------------------------------------


def generalise_zip(value: str | int | None) -> str | None:
    """The first 3 digits of a CEP: a 5-digit prefix (``"01310"``, or ``"1310"`` / ``1310``
    that lost its leading zero) or a full 8-digit CEP (``"01310-100"``) -> ``"013"``. None for
    None, no digits, or more than 8 digits."""
    if value is None:
        return None
    digits = _NON_DIGIT.sub("", str(value))
    if not digits or len(digits) > 8:
        return None
    width = 5 if len(digits) <= 5 else 8
    return digits.rjust(width, "0")[:3]


def generalise_birth_date(value: dt.date | dt.datetime | str | None) -> int | None:
    """The year of a birth date given as a date, a datetime or an ISO string starting
    ``YYYY-MM-DD``; None for None or a string that is not a valid date."""
    if value is None:
        return None
    if isinstance(value, dt.date):  # datetime is a date too
        return value.year
    if not _BIRTH_DATE.match(value):
        return None
    try:
        return dt.date.fromisoformat(value[:10]).year
    except ValueError:
        return None


# --- free-text redaction ---------------------------------------------------------------------


def redact_text(value: str | None) -> str | None:
    """``value`` with e-mails, CPFs and Brazilian phone numbers replaced by ``[EMAIL]``,
    ``[CPF]`` and ``[PHONE]``; all other text (accents included) kept as it is. An unpunctuated
    11-digit number is labelled ``[CPF]`` even if it is a mobile number without separators."""
    if value is None:
        return None
    for pattern, label in _REDACTIONS:
        value = pattern.sub(label, value)
    return value
