"""Every non-Python version the project runs, pinned in this one place.

Python packages are pinned in requirements.txt; ``tests/unit/test_versions.py`` checks that the
two agree where they meet (pyspark and delta-spark). docs/architecture.md explains each pin.
"""

from __future__ import annotations

# Spark and Delta. pyspark 4.2.0 is the newest release that delta-spark 4.4.x's metadata admits
# (pyspark<=4.2.0); the Delta jar is built per Spark minor version. 4.4.1 is on PyPI but
# its delta-spark_4.2_2.13 jar is not on Maven Central, so both sides pin 4.4.0.
SPARK_VERSION = "4.2.0"
SCALA_BINARY = "2.13"
DELTA_VERSION = "4.4.0"
DELTA_ARTIFACT = f"delta-spark_{'.'.join(SPARK_VERSION.split('.')[:2])}_{SCALA_BINARY}"

# S3A must match the Hadoop inside the pyspark wheel (pyspark/jars/hadoop-client-api-*.jar);
# setup refuses to continue when they differ. hadoop-aws declares the AWS SDK v2 bundle it needs.
HADOOP_VERSION = "3.5.0"

# The Kafka broker (KRaft, combined node) runs from Maven Central jars. Its pom declares
# slf4j-api 1.7, so the log4j2 binding is log4j-slf4j-impl (not the slf4j2 one).
KAFKA_VERSION = "4.1.1"
LOG4J_VERSION = "2.25.4"

# S3-compatible object store built from source with `go install` (Apache-2.0).
VERSITYGW_MODULE = "github.com/versity/versitygw"
VERSITYGW_VERSION = "v1.8.0"

# PostgreSQL server from the machine's Debian packages.
POSTGRES_MAJOR = "15"

# Java the JVM parts need (Spark 4 and Kafka 4 both require 17+).
JAVA_MIN_MAJOR = 17


def spark_maven_coordinates() -> list[str]:
    """The group:artifact:version coordinates Spark needs beyond the pyspark wheel."""
    return [
        f"io.delta:{DELTA_ARTIFACT}:{DELTA_VERSION}",
        f"org.apache.spark:spark-sql-kafka-0-10_{SCALA_BINARY}:{SPARK_VERSION}",
        f"org.apache.hadoop:hadoop-aws:{HADOOP_VERSION}",
    ]


def kafka_maven_coordinates() -> list[str]:
    """The coordinates of the Kafka broker and its log4j2 binding."""
    return [
        f"org.apache.kafka:kafka_{SCALA_BINARY}:{KAFKA_VERSION}",
        f"org.apache.logging.log4j:log4j-slf4j-impl:{LOG4J_VERSION}",
        f"org.apache.logging.log4j:log4j-core:{LOG4J_VERSION}",
    ]
