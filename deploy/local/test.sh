#!/usr/bin/env bash
# README command 2: the whole test suite — lint, types, import layers, then unit, component and
# integration tests (the latter on a real Kafka broker the test setup starts, or DANCU_TEST_BOOTSTRAP).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
deploy/local/install.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
.venv/bin/lint-imports
# Whole modules per worker process (their deployments are module fixtures), each worker with a secured
# broker of its own; DANCU_TEST_WORKERS=0 runs everything in this process.
workers=${DANCU_TEST_WORKERS:-3}
if [ "$workers" -gt 0 ]; then
  exec .venv/bin/pytest -n "$workers" --dist loadfile "$@"
fi
exec .venv/bin/pytest "$@"
