"""Throughput of the Spark masking columns on synthetic rows.

    python -m bench.masking_bench [--rows 1000000] [--runs 3]

Generates the rows in Spark (CPF, e-mail, phone and a review text with them embedded), caches
them, then times a ``noop`` write of: (a) the rows as they are (baseline), (b) the rows plus
CPF, e-mail and phone tokens, (c) the rows plus the redacted text, (d) both. Each case runs
once to warm up, then ``--runs`` times; the median is reported. Needs no running service.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import sys
import time
from collections.abc import Callable

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from lakehouse.settings import Secrets
from lakehouse.spark import build_spark_session
from security.masking import Kind
from security.spark_masking import redact_text_col, token_col

KEY_VERSION = 1


def synthetic(spark: SparkSession, rows: int) -> DataFrame:
    """``rows`` rows of fake identifiers; one review in four mentions none of them."""
    n = F.col("id")
    digits = F.lpad(F.pmod(n * 7919 + 104729, F.lit(10**11)).cast("string"), 11, "0")
    part = [F.substring(digits, start, length) for start, length in ((1, 3), (4, 3), (7, 3))]
    cpf = F.concat(F.concat_ws(".", *part), F.lit("-"), F.substring(digits, 10, 2))
    email = F.concat(F.lit("cliente."), n.cast("string"), F.lit("@exemplo.com.br"))
    phone = F.concat(
        F.lit("("), (F.pmod(n, 89) + 11).cast("string"), F.lit(") 9"),
        F.lpad(F.pmod(n * 31, 10_000).cast("string"), 4, "0"), F.lit("-"),
        F.lpad(F.pmod(n * 17, 10_000).cast("string"), 4, "0"),
    )  # fmt: skip
    review = F.when(
        F.pmod(n, 4) == 0,
        F.lit("Entrega rápida, produto conforme a descrição. Recomendo a loja, nota dez!"),
    ).otherwise(
        F.concat(
            F.lit("Pedido atrasado e embalagem danificada. Meu CPF é "),
            cpf,
            F.lit(", falem comigo em "),
            email,
            F.lit(" ou no "),
            phone,
            F.lit(". Não recomendo, péssimo atendimento."),
        )
    )
    return spark.range(rows).select(
        n, cpf.alias("cpf"), email.alias("email"), phone.alias("phone"), review.alias("review")
    )


def cases(key: bytes) -> dict[str, Callable[[DataFrame], DataFrame]]:
    kinds: tuple[Kind, ...] = ("cpf", "email", "phone")

    def tokens() -> list[Column]:
        return [token_col(k, key, KEY_VERSION, kind=k).alias(f"{k}_token") for k in kinds]

    redacted = redact_text_col("review").alias("review_redacted")
    return {
        "baseline (no-op)": lambda df: df,
        "tokens cpf+email+phone": lambda df: df.select("*", *tokens()),
        "redaction of review": lambda df: df.select("*", redacted),
        "tokens + redaction": lambda df: df.select("*", *tokens(), redacted),
    }


def timed_write(df: DataFrame) -> float:
    start = time.perf_counter()
    df.write.format("noop").mode("overwrite").save()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)

    # Python workers (pandas UDF) must run this interpreter, which has pandas and pyarrow.
    # The bench touches no S3: placeholder credentials keep it off the vault.
    unused = Secrets(s3_access_key="unused", s3_secret_key="unused")
    spark = build_spark_session("masking-bench", secrets=unused)
    try:
        source = synthetic(spark, args.rows).cache()
        source.count()
        cores = spark.sparkContext.defaultParallelism
        print(
            f"{args.rows:,} rows, {cores} cores, median of {args.runs} timed runs after a warm-up"
        )
        results: dict[str, float] = {}
        for name, build in cases(secrets.token_bytes(32)).items():
            df = build(source)
            timed_write(df)  # warm-up: JIT, Python workers
            results[name] = statistics.median(timed_write(df) for _ in range(args.runs))
        base = results["baseline (no-op)"]
        print(f"{'case':<26}{'median s':>10}{'rows/s':>14}{'baseline rows/s':>17}{'ratio':>8}")
        for name, seconds in results.items():
            print(
                f"{name:<26}{seconds:>10.3f}{args.rows / seconds:>14,.0f}"
                f"{args.rows / base:>17,.0f}{seconds / base:>7.1f}x"
            )
    finally:
        spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
