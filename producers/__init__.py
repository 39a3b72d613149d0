"""Producer daemons that push records into Kafka: Olist CSV replay, the synthetic Olist
generator, the Banco Central do Brasil SGS poller and the OpenWeather poller."""
