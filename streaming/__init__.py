"""The Spark Structured Streaming application: Kafka -> Delta bronze, silver and gold on S3."""
