#!/usr/bin/env bash
# README command 1: install dancu-bus into .venv and run the demonstration on a local broker.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
deploy/local/install.sh
exec .venv/bin/dancu-bus demo
