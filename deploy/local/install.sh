#!/usr/bin/env bash
# Creates .venv in the repository root and installs dancu-bus with its development tools.
# Checks for what the local broker needs (Java 17+, Maven) and says exactly what to install; names
# PostgreSQL too when the store's PostgreSQL tests would be skipped for want of it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

missing=()
command -v python3 >/dev/null || missing+=("python3 (3.11+): apt-get install -y python3 python3-venv")
command -v java >/dev/null || missing+=("Java 17+: apt-get install -y openjdk-17-jdk-headless")
command -v mvn >/dev/null || missing+=("Maven: apt-get install -y maven")
if [ ${#missing[@]} -gt 0 ]; then
  printf 'install: missing %s\n' "${missing[@]}" >&2
  exit 1
fi
# Only the store's PostgreSQL tests need it: they are skipped without it locally (and fail under CI=true).
if ! compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null && [ -z "${DANCU_TEST_POSTGRES_DSN:-}" ]; then
  echo "install: for the PostgreSQL store tests: apt-get install -y postgresql (or set DANCU_TEST_POSTGRES_DSN)" >&2
fi
python3 -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' \
  || { echo "install: Python 3.11 or newer is needed (found $(python3 --version))" >&2; exit 1; }

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
# Reinstall only when pyproject.toml changed since the last install.
stamp=.venv/.dancu-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/pip install --quiet --disable-pip-version-check -e '.[dev]'
  touch "$stamp"
fi
echo "install: dancu-bus is installed in .venv ($(.venv/bin/dancu-bus --version 2>/dev/null || echo ok))"
