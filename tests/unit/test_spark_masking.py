"""The Spark masking columns give, row for row, what the pure-Python functions give: compared
as whole DataFrames. The token column runs as a vectorised (Arrow) UDF, never row by row."""

from __future__ import annotations

import datetime as dt

from chispa import assert_df_equality
from pyspark.sql import functions as F
from pyspark.sql import types as T

from security import masking as m
from security import spark_masking as sm

KEY = b"spark-test-masking-key-32-bytes!"
VERSION = 3

# (cpf, email, phone, name, zip, birth date, free text)
# fmt: off
ROWS: list[tuple[str | None, ...]] = [
    ("123.456.789-09", "joao.silva@example.com.br", "(11) 91234-5678", "José da Silva",
     "01310", "1987-05-13", "Meu CPF é 123.456.789-09, e-mail joao.silva@example.com.br."),
    ("12345678909", "Joao.Silva@Example.com.BR ", "+55 11 91234-5678", "Élida Conceição",
     "1310", "2001-12-31T23:59:59", "liguem (11) 91234-5678 ou +55 21 3456-7890, obrigado"),
    (None, None, None, None, None, None, None),
    ("", "", "", "", "", "", ""),
    (" 529 982 247 25\n", "ANA@gmail.com", "11 91234-5678", "Ana-Maria D'Ávila",
     "01310-100", "1990-01-02", "Não recebi! CPF 52998224725 tel 1191234-5678 ação já"),
    ("529.982.247-2", "a@b.co", "11912345678", "ÍTALO", "69900", "1987-02-30",
     "user11912345678@x.com escreveu: péssimo"),
    ("abc.def.ghi-jk", "sem-arroba", "3456-7890", "  Zé  ", "310", "13/05/1987",
     "fixo 3456-7890, celular 91234-5678 e cpf 111.444.777-35; ótimo"),
    ("1234", "a@b@exemplo.com", "123", "J. R. R. Tolkien", "sem cep", "0987-05-13",
     "pedido 2024-05-13, CEP 01310-100, R$ 1.234,56 em 3x"),
    ("111.444.777-35", "joão@correio", "+55 (21) 3456-7890", "Conceição", "123456789",
     "1987-05-13 10:00:00", "123456789012345 não é nada"),
    ("111.444.777-35 ", "\tmaria@exemplo.com", "011 91234 5678", "André 😀 Luís", "00000",
     "2000-02-29", "Olá 🙂 contato: maria+loja@exemplo.com.br / (55) 99876-5432"),
    ("000.000.001-91", ".x@y.", "5511912345678", "Ó", "1", "1999-1-1",
     "linha 1\nCPF 000.000.001-91\nE-mail: Fulano.Tal@Empresa.COM\n(21)98765-4321"),
    ("12345678909x", "x@.com", "+55 55 99999-0000", "O'Neil", "01310100", "1987-05-13x",
     "sem identificadores, só acentos: àáâãçéêíóôõú ÀÁÂÃÇÉÊÍÓÔÕÚ"),
    ("123.456.789-09\n", "@", "(11)912345678", "Maria  de   Souza", "999", "",
     "dois cpfs: 123.456.789-09 e 529.982.247-25, dois e-mails: a@b.com c@d.org"),
    ("12.345.678/0001-95", "@dominio.com", "0800 123 4567", "Ñandú", "01310-10", None,
     "+5511912345678 é o zap; 9876-54321 não"),
]
# fmt: on

COLUMNS = ["cpf", "email", "phone", "name", "zip", "birth", "text"]
INPUT_SCHEMA = T.StructType(
    [T.StructField("id", T.IntegerType())] + [T.StructField(c, T.StringType()) for c in COLUMNS]
)
STRING_OUTPUTS = [
    "cpf_token", "email_token", "phone_token", "raw_token",
    "cpf_masked", "email_masked", "phone_masked", "name_masked", "zip3",
]  # fmt: skip
EXPECTED_SCHEMA = T.StructType(
    [T.StructField("id", T.IntegerType())]
    + [T.StructField(c, T.StringType()) for c in STRING_OUTPUTS]
    + [T.StructField("birth_year", T.IntegerType()), T.StructField("redacted", T.StringType())]
)


def _expected_row(row_id: int, row: tuple[str | None, ...]) -> tuple[object, ...]:
    cpf, email, phone, name, zip_, birth, text = row
    return (
        row_id,
        m.token(cpf, KEY, VERSION, kind="cpf"),
        m.token(email, KEY, VERSION, kind="email"),
        m.token(phone, KEY, VERSION, kind="phone"),
        m.token(name, KEY, VERSION),
        m.mask_cpf(cpf),
        m.mask_email(email),
        m.mask_phone(phone),
        m.mask_name(name),
        m.generalise_zip(zip_),
        m.generalise_birth_date(birth),
        m.redact_text(text),
    )


def test_spark_columns_equal_the_python_functions(spark) -> None:
    source = spark.createDataFrame(
        [(i, *row) for i, row in enumerate(ROWS)], INPUT_SCHEMA
    ).repartition(3)  # several Arrow batches and Python workers
    actual = source.select(
        "id",
        sm.token_col("cpf", KEY, VERSION, kind="cpf").alias("cpf_token"),
        sm.token_col(F.col("email"), KEY, VERSION, kind="email").alias("email_token"),
        sm.token_col("phone", KEY, VERSION, kind="phone").alias("phone_token"),
        sm.token_col("name", KEY, VERSION).alias("raw_token"),
        sm.mask_cpf_col("cpf").alias("cpf_masked"),
        sm.mask_email_col("email").alias("email_masked"),
        sm.mask_phone_col("phone").alias("phone_masked"),
        sm.mask_name_col("name").alias("name_masked"),
        sm.generalise_zip_col("zip").alias("zip3"),
        sm.birth_year_col("birth").alias("birth_year"),
        sm.redact_text_col("text").alias("redacted"),
    )
    expected = spark.createDataFrame(
        [_expected_row(i, row) for i, row in enumerate(ROWS)], EXPECTED_SCHEMA
    )
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_typed_columns_generalise_like_python(spark) -> None:
    rows = [
        (1310, dt.date(1987, 5, 13), dt.datetime(2001, 12, 31, 23, 59)),
        (69900, dt.date(2000, 2, 29), dt.datetime(1975, 1, 1, 0, 0)),
        (None, None, None),
    ]
    schema = "id int, zip int, born date, seen timestamp"
    source = spark.createDataFrame([(i, *r) for i, r in enumerate(rows)], schema)
    actual = source.select(
        "id",
        sm.generalise_zip_col("zip").alias("zip3"),
        sm.birth_year_col("born").alias("born_year"),
        sm.birth_year_col("seen").alias("seen_year"),
    )
    expected = spark.createDataFrame(
        [
            (i, m.generalise_zip(z), m.generalise_birth_date(b), m.generalise_birth_date(s))
            for i, (z, b, s) in enumerate(rows)
        ],
        "id int, zip3 string, born_year int, seen_year int",
    )
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_token_column_is_vectorised_and_keeps_the_key_out_of_the_plan(spark) -> None:
    source = spark.createDataFrame([("529.982.247-25",)], "cpf string")
    tokens = source.select(sm.token_col("cpf", KEY, VERSION, kind="cpf").alias("t"))
    plan = tokens._jdf.queryExecution().executedPlan().toString()
    assert "ArrowEvalPython" in plan
    assert "BatchEvalPython" not in plan
    explained = tokens._jdf.queryExecution().toString()  # parsed, analysed, optimised, physical
    assert KEY.decode() not in explained and KEY.hex() not in explained
    assert tokens.first()["t"] == m.token("52998224725", KEY, VERSION, kind="cpf")


def test_masks_and_redaction_are_native(spark) -> None:
    source = spark.createDataFrame(
        [(r[0], r[1], r[3], r[6]) for r in ROWS[:2]], "a string, b string, c string, d string"
    )
    masked = source.select(
        sm.mask_cpf_col("a"),
        sm.mask_email_col("b"),
        sm.mask_phone_col("a"),
        sm.mask_name_col("c"),
        sm.redact_text_col("d"),
        sm.generalise_zip_col("a"),
        sm.birth_year_col("a"),
    )
    plan = masked._jdf.queryExecution().executedPlan().toString()
    assert "EvalPython" not in plan
