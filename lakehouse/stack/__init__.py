"""The local service stack: Kafka (KRaft), the S3 server and PostgreSQL as background processes
under the project's home, each with a pid file, a log file and a readiness check."""
