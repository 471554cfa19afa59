#!/usr/bin/env bash
# The project's test command (the same one the README gives).
# Needs PostgreSQL 15 and MariaDB binaries installed; see .ci/run.
# The `llm` extra will need `.venv/bin/pip install torch==2.13.0` before `pip install -e`.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m venv .venv
.venv/bin/pip install -e '.[dev]'
# pytest's own exit status is the script's (5, "no tests collected", is a failure too).
exec .venv/bin/pytest -q "$@"
