"""The PostgreSQL warehouse: star-schema migrations, the micro-batch sink and Grafana's
provisioning (datasource and dashboards as code)."""
