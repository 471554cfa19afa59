#!/usr/bin/env bash
# The project's test command (the README's second command): installs what the tests need,
# then runs the whole suite against real PostgreSQL 15, MariaDB and SQLite.
# The `llm` extra will need `.venv/bin/pip install torch==2.13.0` before `pip install -e`.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x /usr/lib/postgresql/15/bin/initdb ] || ! command -v mariadbd >/dev/null 2>&1 \
        || ! command -v chromium >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then
        export DEBIAN_FRONTEND=noninteractive
        apt-get update
        apt-get install -y postgresql postgresql-plpython3-15 mariadb-server chromium
    else
        echo "needs PostgreSQL 15, MariaDB and Chromium: sudo apt-get install -y postgresql mariadb-server chromium" >&2
        exit 1
    fi
fi

python3 -m venv .venv
.venv/bin/pip install -q -e '.[dev]'
# pytest's own exit status is the script's (5, "no tests collected", is a failure too).
exec .venv/bin/pytest -q "$@"
