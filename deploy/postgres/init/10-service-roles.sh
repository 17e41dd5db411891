#!/bin/sh
# Run once by the postgres image's entrypoint, when the data volume is new (docker-compose.yml mounts this folder
# on /docker-entrypoint-initdb.d): a login role per service (TIAODU_SERVICES, generated from
# shared/catalogue/ownership.py), with its password from POSTGRES_<SERVICE>_PASSWORD, owning a schema of its name.
# No service is a superuser or owns the database. The group role tiaodu_services may create schemas in the database:
# a service creates its own at start-up (`CREATE SCHEMA IF NOT EXISTS`) and a rebuild its scratch schema
# (docs/adr/0012). Kubernetes does the same with CloudNativePG (deploy/k8s/postgres/cluster.yaml).
set -eu

: "${TIAODU_SERVICES:?set TIAODU_SERVICES (the services, space-separated)}"

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" -v db="$POSTGRES_DB" <<'SQL'
CREATE ROLE tiaodu_services NOLOGIN;
GRANT CREATE ON DATABASE :"db" TO tiaodu_services;
SQL

for service in $TIAODU_SERVICES; do
  var="POSTGRES_$(echo "$service" | tr '[:lower:]' '[:upper:]')_PASSWORD"
  password=$(printenv "$var" || true)
  if [ -z "$password" ]; then
    echo "10-service-roles.sh: $var is not set: the role $service would have no password" >&2
    exit 1
  fi
  psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -v role="$service" -v password="$password" <<'SQL'
CREATE ROLE :"role" LOGIN PASSWORD :'password' IN ROLE tiaodu_services;
CREATE SCHEMA :"role" AUTHORIZATION :"role";
SQL
done
