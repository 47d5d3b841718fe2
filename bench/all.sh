#!/usr/bin/env bash
# Every benchmark of bench/README.md, one after the other, on the dev broker at 127.0.0.1:9092
# (started here if it is not running, and left running).
# Populations are seeded once into .cache/bench and reused; the last line of each run is its JSON.
# `bench/all.sh` takes about 10 minutes once the 1M and 10M populations are cached (seeding them:
# about 30 more, see bench/seed.py); `bench/all.sh quick` runs the 1 million citizen part only.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
python=.venv/bin/python
out=".cache/bench/results-$(date -u +%Y%m%dT%H%M%SZ).txt"
mkdir -p .cache/bench
.venv/bin/dancu-bus dev broker start  # once for every run below, instead of once per run

run() {
  echo "### bench/exchange.py $*" | tee -a "$out"
  "$python" bench/exchange.py "$@" | tee -a "$out"
}

run --workload verify --requests 200000 --store sqlite --citizens 1000000
run --workload lookup --requests 200000 --store sqlite --citizens 1000000
run --workload steady --rate 1000 --duration 60 --store sqlite --citizens 1000000
run --workload verify-batch --requests 1000000 --store sqlite --citizens 1000000
run --workload verify-batch --requests 300000 --store postgres --citizens 1000000
run --workload scale-out --resolvers 1,2,4 --requests 300000 --store sqlite --citizens 1000000
run --workload verify --requests 200000 --store postgres --citizens 1000000
if [ "${1:-}" != quick ]; then
  run --workload verify --requests 200000 --store sqlite --citizens 10000000
  run --workload verify --requests 200000 --store postgres --citizens 10000000
fi
echo "results: $out"
