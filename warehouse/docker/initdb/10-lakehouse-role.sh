#!/bin/sh
# Run once by the postgres image on an empty volume (docker-compose.yml): the project's roles
# and database, as `lakehouse stack up` creates them on the local stack (lakehouse/postgres.py).
# The migrations are applied by `lakehouse migrate`.
set -eu
psql -v ON_ERROR_STOP=1 --username postgres \
    -v owner_pw="$LAKEHOUSE_POSTGRES_PASSWORD" \
    -v loader_pw="$LAKEHOUSE_POSTGRES_LOADER_PASSWORD" \
    -v reader_pw="$LAKEHOUSE_POSTGRES_READER_PASSWORD" <<'SQL'
CREATE ROLE lakehouse_writer NOLOGIN;
CREATE ROLE lakehouse_reader NOLOGIN;
CREATE ROLE lakehouse LOGIN PASSWORD :'owner_pw';
CREATE ROLE lakehouse_loader LOGIN PASSWORD :'loader_pw' IN ROLE lakehouse_writer;
CREATE ROLE lakehouse_grafana LOGIN PASSWORD :'reader_pw' IN ROLE lakehouse_reader;
CREATE DATABASE lakehouse OWNER lakehouse;
SQL
