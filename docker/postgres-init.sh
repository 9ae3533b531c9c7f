#!/usr/bin/env bash
# Run once by the postgres image, on an empty data directory (mounted in /docker-entrypoint-initdb.d):
# the hub's database, owned by a role that runs the migrations, and a second role the hub serves as.
# Neither is a superuser: the image's POSTGRES_USER is, and it is used for nothing but this script.
# The serving role is given its rights on the tables once they exist, after the migrations.
set -euo pipefail
: "${PLATFORM_HUB_DB_NAME:=platform_hub}"
: "${PLATFORM_HUB_DB_OWNER:=platform_hub_owner}"
: "${PLATFORM_HUB_DB_USER:=platform_hub}"
: "${PLATFORM_HUB_DB_OWNER_PASSWORD:?the password of the database owner, who migrates}"
: "${PLATFORM_HUB_DB_PASSWORD:?the password of the role the hub serves as}"

# psql quotes the names (:"…") and the passwords (:'…') itself.
psql --no-psqlrc --set ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" \
  --dbname "${POSTGRES_DB:-postgres}" \
  --set database="$PLATFORM_HUB_DB_NAME" \
  --set owner="$PLATFORM_HUB_DB_OWNER" --set owner_password="$PLATFORM_HUB_DB_OWNER_PASSWORD" \
  --set serving="$PLATFORM_HUB_DB_USER" --set serving_password="$PLATFORM_HUB_DB_PASSWORD" <<'SQL'
CREATE ROLE :"owner" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
  PASSWORD :'owner_password';
CREATE ROLE :"serving" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
  PASSWORD :'serving_password';
CREATE DATABASE :"database" OWNER :"owner";
REVOKE ALL ON DATABASE :"database" FROM PUBLIC;
GRANT CONNECT ON DATABASE :"database" TO :"serving";
SQL
