"""The masking operations of ``security.masking`` as Spark columns, vectorised.

Every function takes and returns a ``pyspark.sql.Column`` and gives, row for row, what the
pure-Python function of the same name gives (the unit tests compare whole DataFrames). Masks,
generalisation and redaction are native Spark SQL expressions (``regexp_replace`` and friends)
built from the very same regex constants as the Python side; nothing leaves the JVM.

Tokens: Spark 4.2 has no HMAC function (of its 576 SQL functions, ``sha2``, ``sha1``, ``md5``,
``hash``, ``xxhash64``, ``aes_encrypt`` and ``mask`` come closest: none is keyed). HMAC-SHA256
could be spelt natively as ``sha2(concat(K^opad, unhex(sha2(concat(K^ipad, msg), 256))), 256)``
(same bytes; measured no faster than the UDF here), but the two pads are the key in all but name
and would sit as literals in every plan string that Spark logs or shows in its UI. So the HMAC
runs in a pandas (Arrow) UDF: batches of values cross to Python as Arrow vectors, never row by
row (the plan shows ``ArrowEvalPython``, not ``BatchEvalPython``); normalisation stays native
before it. The key lives only in the UDF's closure: pickled into each task, as any closure is
(encrypted on the wire only with ``spark.network.crypto.enabled``), but never printed in a plan.

Python workers need pandas and pyarrow; Spark starts them with ``$PYSPARK_PYTHON`` (``python3``
when unset), which must be the project's interpreter.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pandas as pd
from pyspark.sql import functions as F
from pyspark.sql.types import StringType

from security import masking as m

if TYPE_CHECKING:
    from pyspark.sql import Column


def _col(column: Column | str) -> Column:
    return F.col(column) if isinstance(column, str) else column


def _digits(column: Column) -> Column:
    return F.regexp_replace(column, m.NON_DIGIT_PATTERN, "")


def _hide_digits(column: Column) -> Column:
    return F.regexp_replace(column, m.DIGIT_PATTERN, "*")


# --- normalisation and tokens ----------------------------------------------------------------


def strip_edges_col(column: Column | str) -> Column:
    """``masking.strip_edges``: leading and trailing blanks removed."""
    return F.regexp_replace(_col(column), m.EDGE_SPACE_PATTERN, "")


def _token_input(column: Column | str, kind: m.Kind) -> Column:
    """``masking.normalise`` natively, except that "no value" is ``""`` rather than null (the
    UDF maps both to None): one expression chain, nothing computed twice."""
    c = _col(column)
    if kind == "raw":
        return c
    if kind == "cpf":
        digits = F.regexp_replace(strip_edges_col(c), m.CPF_SEPARATORS_PATTERN, "")
        return F.regexp_replace(digits, m.NOT_ELEVEN_DIGITS_PATTERN, "")
    if kind == "email":
        return F.lower(strip_edges_col(c))
    if kind == "phone":
        no_country = F.regexp_replace(_digits(c), m.COUNTRY_CODE_PATTERN, "")
        return F.regexp_replace(no_country, m.LEADING_ZEROS_PATTERN, "")
    raise ValueError(f"unknown token kind {kind!r}: use one of {m.KINDS}")


def _hmac_udf(key: bytes, key_version: int, kind: m.Kind) -> Callable[[Column], Column]:
    """A vectorised UDF: the ``kind`` token of each normalised value of an Arrow batch (None
    for None or ""). The key is held by this closure; the keyed HMAC state is built on the
    worker, once per batch, as it cannot be pickled."""

    def hmac_tokens(values: pd.Series) -> pd.Series:
        tokenise = m.mac_tokeniser(key, key_version, kind)
        tokens = [tokenise(v) if isinstance(v, str) else None for v in values.tolist()]
        return pd.Series(tokens, dtype=object)

    return F.pandas_udf(hmac_tokens, StringType())


def token_col(column: Column | str, key: bytes, key_version: int, kind: m.Kind = "raw") -> Column:
    """``masking.token``: ``"v<version>:<64 hex>"`` HMAC-SHA256 token of the normalised value,
    None where the value is None, empty or does not normalise. Normalisation is native; the HMAC
    is a pandas UDF (see the module docstring)."""
    m.check_key(key, key_version)
    return _hmac_udf(bytes(key), key_version, kind)(_token_input(column, kind))


# --- display masks -----------------------------------------------------------------------------

# One group per digit and one per run of non-digits around them, for the 11 digits of a CPF.
_CPF_SHAPE = "^" + "([^0-9]*)([0-9])" * 11 + "([^0-9]*)" + m.END
_CPF_MASKED = "".join(
    f"${2 * i + 1}" + (f"${2 * i + 2}" if i in m.CPF_SHOWN_DIGITS else "*") for i in range(11)
)
_CPF_MASKED += "$23"  # Java replacement syntax: "$1*$3*$5*$7$8...$21*$23"


def mask_cpf_col(column: Column | str) -> Column:
    """``masking.mask_cpf``: ``***.456.789-**``; every digit hidden if there are not 11."""
    c = _col(column)
    return F.when(
        F.length(_digits(c)) == 11, F.regexp_replace(c, _CPF_SHAPE, _CPF_MASKED)
    ).otherwise(_hide_digits(c))


def _keep_first_col(part: Column) -> Column:
    return F.regexp_replace(part, m.NOT_FIRST_CHAR_PATTERN, "*")


def mask_email_col(column: Column | str) -> Column:
    """``masking.mask_email``: ``j*********@e******.com.br``."""
    c = _col(column)
    local = F.regexp_extract(c, r"^([\s\S]*)@", 1)  # greedy: up to the last @
    domain = F.substring_index(c, "@", -1)
    host = F.substring_index(domain, ".", 1)
    suffix = domain.substr(F.length(host) + 1, F.length(domain) + 1)
    masked = F.concat(_keep_first_col(local), F.lit("@"), _keep_first_col(host), suffix)
    return F.when(F.instr(c, "@") > 0, masked).otherwise(_keep_first_col(c))


def mask_phone_col(column: Column | str) -> Column:
    """``masking.mask_phone``: ``(11) *****-5678``; every digit hidden for an unknown shape."""
    c = _col(column)
    digits = _digits(c)
    n = F.length(digits)
    # Mirrors masking.phone_shown_head.
    shown = (
        F.when(n.isin(8, 9), 0)
        .when(n.isin(10, 11), 2)
        .when(n.isin(12, 13) & digits.startswith("55"), 4)
    )
    head = (
        F.when(shown == 2, F.regexp_extract(c, m.phone_head_pattern(2), 1))
        .when(shown == 4, F.regexp_extract(c, m.phone_head_pattern(4), 1))
        .otherwise(F.lit(""))
    )
    rest = c.substr(F.length(head) + 1, F.length(c) + 1)
    masked = F.concat(head, F.regexp_replace(rest, m.PHONE_HIDDEN_DIGIT_PATTERN, "*"))
    return F.when(shown.isNull(), _hide_digits(c)).otherwise(masked)


def mask_name_col(column: Column | str) -> Column:
    """``masking.mask_name``: ``J*** d* S****``."""
    return F.regexp_replace(_col(column), m.NAME_TAIL_PATTERN, "*")


# --- generalisation ----------------------------------------------------------------------------


def generalise_zip_col(column: Column | str) -> Column:
    """``masking.generalise_zip``: the 3-digit CEP prefix, from a string or an integer column."""
    digits = _digits(_col(column).cast("string"))
    n = F.length(digits)
    width = F.when((n >= 1) & (n <= 5), 5).when((n >= 6) & (n <= 8), 8)  # else null
    return F.substring(F.lpad(digits, width, "0"), 1, 3)


def birth_year_col(column: Column | str) -> Column:
    """``masking.generalise_birth_date``: the year, from a date, a timestamp (in the session's
    time zone) or a ``YYYY-MM-DD...`` string column; null for anything else."""
    text = _col(column).cast("string")
    day = F.try_to_date(F.substring(text, 1, 10), "yyyy-MM-dd")
    return F.when(text.rlike(m.BIRTH_DATE_PATTERN), F.year(day))


# --- free-text redaction ---------------------------------------------------------------------


def redact_text_col(column: Column | str) -> Column:
    """``masking.redact_text``: e-mails, CPFs and phones replaced by ``[EMAIL]``, ``[CPF]``,
    ``[PHONE]``, in that order, with the same patterns. Texts without an ``@`` skip the e-mail
    pattern and texts without a digit the other two (same output, less regex work)."""
    (email, email_label), (cpf, cpf_label), (phone, phone_label) = m.REDACTIONS
    c = _col(column)
    text = F.when(c.contains("@"), F.regexp_replace(c, email, email_label)).otherwise(c)
    numbers = F.regexp_replace(F.regexp_replace(text, cpf, cpf_label), phone, phone_label)
    return F.when(text.rlike(m.DIGIT_PATTERN), numbers).otherwise(text)
