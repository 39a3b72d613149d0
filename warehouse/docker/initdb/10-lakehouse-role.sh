#!/bin/sh
# Run once by the postgres image on an empty volume (docker-compose.yml): the project's role and
# database, as `lakehouse stack up` creates them on the local stack.
set -eu
psql -v ON_ERROR_STOP=1 -v pw="$LAKEHOUSE_POSTGRES_PASSWORD" --username postgres <<'SQL'
CREATE ROLE lakehouse LOGIN PASSWORD :'pw';
CREATE DATABASE lakehouse OWNER lakehouse;
SQL
