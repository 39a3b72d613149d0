"""The pure-Python masking functions: tokens, CPF checks, display masks, generalisation and
redaction, with examples and hypothesis properties."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from security import masking as m

KEY = b"unit-test-masking-key-32-bytes!!"
OTHER_KEY = b"another-masking-key-of-32-bytes!"
TOKEN_SHAPE = re.compile(r"v[1-9][0-9]*:[0-9a-f]{64}")

keys = st.binary(min_size=m.MIN_KEY_BYTES, max_size=64)
versions = st.integers(min_value=1, max_value=10_000)
cpf_punctuated = st.from_regex(r"[0-9]{3}\.[0-9]{3}\.[0-9]{3}-[0-9]{2}", fullmatch=True)
cpf_digits = st.from_regex(r"[0-9]{11}", fullmatch=True)
phones = st.from_regex(r"\(([1-9][0-9])\) 9[0-9]{4}-[0-9]{4}", fullmatch=True)
letters = st.characters(whitelist_categories=("Lu", "Ll"))
names = st.lists(st.text(letters, min_size=1, max_size=12), min_size=1, max_size=5).map(" ".join)


# --- tokens ------------------------------------------------------------------------------------


def test_token_format_is_version_colon_hmac_sha256_hex() -> None:
    import hashlib
    import hmac

    expected = hmac.new(KEY, b"cpf\x0052998224725", hashlib.sha256).hexdigest()
    assert m.token("529.982.247-25", KEY, 7, kind="cpf") == f"v7:{expected}"
    assert hashlib.sha256(b"52998224725").hexdigest() != expected  # keyed, not a plain hash


def test_version_one_keys_mac_the_value_alone() -> None:
    import hashlib
    import hmac

    expected = hmac.new(KEY, b"52998224725", hashlib.sha256).hexdigest()
    assert m.token("529.982.247-25", KEY, 1, kind="cpf") == f"v1:{expected}"


def test_the_same_digits_of_different_kinds_give_different_tokens() -> None:
    spellings = {"cpf": "123.456.789-09", "phone": "(12) 34567-8909", "raw": "12345678909"}
    tokens = {m.token(value, KEY, 2, kind=kind) for kind, value in spellings.items()}  # type: ignore[arg-type]
    assert len(tokens) == 3
    # A version-1 key keeps its old, kind-blind tokens until the key is rotated.
    old = {m.token(value, KEY, 1, kind=kind) for kind, value in spellings.items()}  # type: ignore[arg-type]
    assert len(old) == 1


@given(cpf_digits, versions.filter(lambda v: v >= m.KIND_BOUND_FROM_VERSION))
def test_kinds_never_share_a_token(digits: str, version: int) -> None:
    tokens = [m.token(digits, KEY, version, kind=k) for k in ("cpf", "phone", "raw")]
    assert len(set(tokens)) == 3


@pytest.mark.parametrize("kind", m.KINDS)
@pytest.mark.parametrize("value", [None, ""])
def test_token_of_nothing_is_none(value: str | None, kind: m.Kind) -> None:
    assert m.token(value, KEY, 1, kind=kind) is None


@pytest.mark.parametrize(
    ("kind", "variants"),
    [
        ("cpf", ["529.982.247-25", "52998224725", " 529 982 247 25\n"]),
        ("email", ["Joao.Silva@Example.com.BR", " joao.silva@example.com.br\t"]),
        ("phone", ["+55 11 91234-5678", "(11) 91234-5678", "11912345678", "011 91234 5678"]),
    ],
)
def test_equivalent_spellings_give_one_token(kind: m.Kind, variants: list[str]) -> None:
    assert len({m.token(v, KEY, 1, kind=kind) for v in variants}) == 1


def test_raw_tokens_are_not_normalised() -> None:
    assert m.token("Ana", KEY, 1) != m.token("ana", KEY, 1)


def test_a_cpf_without_eleven_digits_has_no_token() -> None:
    assert m.token("529.982.247-2", KEY, 1, kind="cpf") is None
    assert m.token("52998224725x", KEY, 1, kind="cpf") is None


@pytest.mark.parametrize(
    ("key", "version"), [(b"short", 1), (KEY, 0), (KEY, -1), (KEY, True), ("text-key" * 4, 1)]
)
def test_weak_keys_and_bad_versions_are_refused(key: bytes, version: int) -> None:
    with pytest.raises(ValueError, match="key"):
        m.token("x", key, version)


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown token kind"):
        m.token("x", KEY, 1, kind="iban")  # type: ignore[arg-type]


@given(value=st.text(min_size=1), key=keys, version=versions)
def test_tokens_are_deterministic_and_well_formed(value: str, key: bytes, version: int) -> None:
    first = m.token(value, key, version)
    assert first == m.token(value, key, version)
    assert first is not None and TOKEN_SHAPE.fullmatch(first)
    assert first.startswith(f"v{version}:")


@given(value=st.text(min_size=1), key=keys, other=keys, version=versions)
def test_tokens_differ_across_keys(value: str, key: bytes, other: bytes, version: int) -> None:
    assume(key != other)
    assert m.token(value, key, version) != m.token(value, other, version)


@given(value=st.text(min_size=1), version=versions, other=versions)
def test_tokens_differ_across_key_versions(value: str, version: int, other: int) -> None:
    assume(version != other)
    assert m.token(value, KEY, version) != m.token(value, KEY, other)


@given(value=st.text(min_size=8), key=keys)
def test_a_token_never_contains_its_input(value: str, key: bytes) -> None:
    assert value not in (m.token(value, key, 1) or "")


@given(cpf=cpf_punctuated)
def test_a_cpf_token_never_contains_its_digits(cpf: str) -> None:
    digits = m.normalise_cpf(cpf)
    assert digits is not None
    assert digits not in (m.token(cpf, KEY, 1, kind="cpf") or "")


def test_make_tokeniser_matches_token() -> None:
    tokenise = m.make_tokeniser(KEY, 2, "email")
    for value in ["a@b.com", " A@B.com ", "", None]:
        assert tokenise(value) == m.token(value, KEY, 2, kind="email")


# --- normalisation and CPF checks ------------------------------------------------------------


def test_normalisers() -> None:
    assert m.normalise_cpf("529.982.247-25") == "52998224725"
    assert m.normalise_cpf("5299822472") is None
    assert m.normalise_cpf(None) is None
    assert m.normalise_email("  Maria@Exemplo.COM ") == "maria@exemplo.com"
    assert m.normalise_email("   ") is None
    assert m.normalise_phone("+55 (21) 3456-7890") == "2134567890"
    assert m.normalise_phone("(55) 91234-5678") == "55912345678"  # DDD 55 is kept
    assert m.normalise_phone("sem número") is None


@pytest.mark.parametrize(
    "cpf", ["529.982.247-25", "52998224725", "123.456.789-09", "111.444.777-35", "000.000.001-91"]
)
def test_valid_cpfs(cpf: str) -> None:
    assert m.is_valid_cpf(cpf)


@pytest.mark.parametrize(
    "cpf",
    [
        "529.982.247-24",  # second check digit wrong
        "529.982.247-15",  # first check digit wrong
        "111.111.111-11",  # all the same digit: passes the arithmetic, still invalid
        "00000000000",
        "5299822472",  # 10 digits
        "529.982.247-255",
        "abc.def.ghi-jk",
        "",
        None,
    ],
)
def test_invalid_cpfs(cpf: str | None) -> None:
    assert not m.is_valid_cpf(cpf)


@given(cpf=cpf_digits)
def test_changing_a_check_digit_invalidates_a_valid_cpf(cpf: str) -> None:
    valid = cpf[:9] + str(m._cpf_check_digit(cpf[:9]))
    valid += str(m._cpf_check_digit(valid))
    assume(len(set(valid)) > 1)
    assert m.is_valid_cpf(valid)
    assert m.is_valid_cpf(f"{valid[:3]}.{valid[3:6]}.{valid[6:9]}-{valid[9:]}")
    for position in (9, 10):
        wrong = valid[:position] + str((int(valid[position]) + 1) % 10) + valid[position + 1 :]
        assert not m.is_valid_cpf(wrong)


# --- display masks ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("123.456.789-09", "***.456.789-**"),
        ("12345678909", "***456789**"),
        ("123 456 789 09", "*** 456 789 **"),
        ("1234", "****"),  # not a CPF: every digit hidden
        ("", ""),
        (None, None),
    ],
)
def test_mask_cpf(value: str | None, masked: str | None) -> None:
    assert m.mask_cpf(value) == masked


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("joao.silva@example.com.br", "j*********@e******.com.br"),
        ("ANA@gmail.com", "A**@g****.com"),
        ("a@b.co", "a@b.co"),
        ("joão@correio", "j***@c******"),
        ("a@b@exemplo.com", "a**@e******.com"),  # split at the last @
        ("sem-arroba", "s*********"),
        ("", ""),
        (None, None),
    ],
)
def test_mask_email(value: str | None, masked: str | None) -> None:
    assert m.mask_email(value) == masked


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("(11) 91234-5678", "(11) *****-5678"),
        ("11 91234-5678", "11 *****-5678"),
        ("+55 11 91234-5678", "+55 11 *****-5678"),
        ("+55 (21) 3456-7890", "+55 (21) ****-7890"),
        ("11912345678", "11*****5678"),
        ("3456-7890", "****-7890"),
        ("123", "***"),  # unknown shape: every digit hidden
        ("", ""),
        (None, None),
    ],
)
def test_mask_phone(value: str | None, masked: str | None) -> None:
    assert m.mask_phone(value) == masked


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("José da Silva", "J*** d* S****"),
        ("Élida Conceição", "É**** C********"),
        ("Ana-Maria D'Ávila", "A**-M**** D'Á****"),
        ("ÍTALO", "Í****"),
        ("  Zé  ", "  Z*  "),
        ("", ""),
        (None, None),
    ],
)
def test_mask_name(value: str | None, masked: str | None) -> None:
    assert m.mask_name(value) == masked


@given(value=st.text())
def test_masks_preserve_length_of_any_text(value: str) -> None:
    for mask in (m.mask_cpf, m.mask_phone, m.mask_name, m.mask_email):
        assert len(mask(value) or "") == len(value)


@given(cpf=cpf_punctuated | cpf_digits)
def test_mask_cpf_shows_only_the_middle_digits(cpf: str) -> None:
    masked = m.mask_cpf(cpf)
    assert masked is not None and len(masked) == len(cpf)
    assert re.sub(r"[^0-9*]", "", masked) == "***" + m.normalise_cpf(cpf)[3:9] + "**"


@given(phone=phones)
def test_mask_phone_shows_only_ddd_and_last_four(phone: str) -> None:
    masked = m.mask_phone(phone)
    assert masked == phone[:5] + "*****" + phone[10:]


@given(name=names)
def test_mask_name_keeps_each_first_letter(name: str) -> None:
    masked = m.mask_name(name)
    assert masked is not None and len(masked) == len(name)
    assert [w[0] for w in masked.split(" ")] == [w[0] for w in name.split(" ")]
    assert set("".join(w[1:] for w in masked.split(" "))) <= {"*"}


# --- generalisation ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "prefix"),
    [
        ("01310", "013"),
        ("1310", "013"),
        (1310, "013"),
        ("310", "003"),
        ("69900", "699"),
        ("01310-100", "013"),
        ("1310100", "013"),  # an 8-digit CEP that lost its leading zero
        ("", None),
        ("sem cep", None),
        ("123456789", None),
        (None, None),
    ],
)
def test_generalise_zip(value: str | int | None, prefix: str | None) -> None:
    assert m.generalise_zip(value) == prefix


@pytest.mark.parametrize(
    ("value", "year"),
    [
        ("1987-05-13", 1987),
        ("2001-12-31T23:59:59", 2001),
        (dt.date(1990, 1, 2), 1990),
        (dt.datetime(1975, 7, 8, 9, 10), 1975),
        ("1987-02-30", None),
        ("13/05/1987", None),
        ("", None),
        (None, None),
    ],
)
def test_generalise_birth_date(value: object, year: int | None) -> None:
    assert m.generalise_birth_date(value) == year  # type: ignore[arg-type]


# --- redaction ---------------------------------------------------------------------------------


def test_redact_a_review_with_several_identifiers() -> None:
    review = (
        "Produto chegou quebrado! Meu CPF é 529.982.247-25, e-mail joão.silva@exemplo.com.br; "
        "liguem no (11) 91234-5678 ou +55 21 3456-7890. Não gostei da atenção, péssimo."
    )
    assert m.redact_text(review) == (
        "Produto chegou quebrado! Meu CPF é [CPF], e-mail [EMAIL]; "
        "liguem no [PHONE] ou [PHONE]. Não gostei da atenção, péssimo."
    )


@pytest.mark.parametrize(
    ("text", "redacted"),
    [
        ("cpf 12345678909.", "cpf [CPF]."),
        ("cpf 123.456.789-09!", "cpf [CPF]!"),
        ("tel 11 91234-5678", "tel [PHONE]"),
        ("tel +55 11 912345678", "tel [PHONE]"),
        ("tel 1191234-5678", "tel [PHONE]"),
        ("fixo 3456-7890 ok", "fixo [PHONE] ok"),
        ("mail: a.b+c@d-e.com.br.", "mail: [EMAIL]."),
        ("user11912345678@x.com", "[EMAIL]"),  # the digits belong to the e-mail
        ("pedido 2024-05-13, CEP 01310-100", "pedido 2024-05-13, CEP 01310-100"),
        ("R$ 1.234,56 em 3x", "R$ 1.234,56 em 3x"),
        ("123456789012345", "123456789012345"),  # too long for any identifier
        ("", ""),
        (None, None),
    ],
)
def test_redact_text_forms(text: str | None, redacted: str | None) -> None:
    assert m.redact_text(text) == redacted


@given(
    before=st.text(alphabet="abcçãéíóú ,.!?", max_size=20),
    cpf=cpf_punctuated | cpf_digits,
    phone=phones,
    after=st.text(alphabet="abcçãéíóú ,.!?", max_size=20),
)
def test_redaction_leaves_no_identifier(before: str, cpf: str, phone: str, after: str) -> None:
    text = f"{before} {cpf} {after} {phone} fim@exemplo.com {after}"
    redacted = m.redact_text(text)
    assert redacted == f"{before} [CPF] {after} [PHONE] [EMAIL] {after}"
