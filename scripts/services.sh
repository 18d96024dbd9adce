#!/usr/bin/env bash
# Start the integration-test services by hand (what `make services` runs) and
# print the variables that point the tests at them:
#
#   scripts/services.sh                 start all; Ctrl-C stops them
#   scripts/services.sh --detach        start all and return; eval "$(...)" works
#   scripts/services.sh stop            stop what --detach started
#   scripts/services.sh --only kafka,redis
#
# Kafka (Tansu) and MongoDB (mongoeco) run on free ports; MariaDB, PostgreSQL
# and Redis are the machine's, each with a fresh database. docs/TEST-SERVICES.md
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON=${PYTHON:-.venv/bin/python}
if [[ ! -x $PYTHON ]]; then
    echo "services: $PYTHON not found: run 'make install' first" >&2
    exit 1
fi
exec "$PYTHON" -m tests.support "$@"
