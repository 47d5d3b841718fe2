#!/usr/bin/env bash
# A single-node Apache Kafka (KRaft, combined broker+controller) on loopback, from Maven Central jars.
#
#   broker.sh fetch|start|stop|status
#
# Every step is idempotent: fetching twice reuses the cache, formatting skips formatted storage,
# starting a running broker reports it, stopping a stopped one is a no-op.
#
# Environment (the dancu-bus CLI sets these from its settings):
#   DANCU_BROKER_HOME   cache and state (default: <repo>/.cache/broker; git-ignored)
#   DANCU_BROKER_PORT   client listener port on 127.0.0.1 (default 9092)
#   DANCU_BROKER_CONTROLLER_PORT  controller listener port (default 9093)
#   DANCU_BROKER_HEAP   Java heap (default 1g)
#   DANCU_BROKER_WAIT   seconds to wait for the broker to start (default 90)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
home=${DANCU_BROKER_HOME:-$repo/.cache/broker}
port=${DANCU_BROKER_PORT:-9092}
ctrl=${DANCU_BROKER_CONTROLLER_PORT:-9093}
heap=${DANCU_BROKER_HEAP:-1g}
wait_s=${DANCU_BROKER_WAIT:-90}
kafka_version=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$here/pom.xml")
libs=$home/libs-$kafka_version
data=$home/data
conf=$home/server.properties
pidfile=$home/broker.pid
log=$home/broker.log

say() { printf 'broker: %s\n' "$*"; }
die() { printf 'broker: error: %s\n' "$*" >&2; exit 1; }

require_tools() {
  command -v java >/dev/null 2>&1 || die "Java is missing: install a JDK 17 or newer (Debian: apt-get install -y openjdk-17-jdk-headless)"
  local major
  major=$(java -XshowSettings:properties -version 2>&1 | sed -n 's/ *java.specification.version = //p' | cut -d. -f1)
  [ "${major:-0}" -ge 17 ] || die "Java $major is too old for Kafka $kafka_version: install a JDK 17 or newer (Debian: apt-get install -y openjdk-17-jdk-headless)"
}

fetch() {
  if [ -f "$libs/.complete" ]; then
    return 0
  fi
  command -v mvn >/dev/null 2>&1 || die "Maven is missing: install it (Debian: apt-get install -y maven)"
  say "fetching Kafka $kafka_version and its runtime dependencies from Maven Central into $libs"
  mkdir -p "$libs"
  mvn -q -B -f "$here/pom.xml" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$libs" >"$home/fetch.log" 2>&1 \
    || die "mvn could not resolve the Kafka jars; see $home/fetch.log"
  touch "$libs/.complete"
}

running_pid() {
  [ -f "$pidfile" ] || return 1
  local pid
  pid=$(cat "$pidfile")
  # The pid must still be our java process, not a recycled pid of something else.
  if kill -0 "$pid" 2>/dev/null && grep -q 'kafka.Kafka' "/proc/$pid/cmdline" 2>/dev/null; then
    echo "$pid"
    return 0
  fi
  return 1
}

write_config() {
  cat >"$conf" <<EOF
# Written by deploy/local/broker.sh; regenerated on every start.
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$ctrl
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$ctrl
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$data
num.partitions=3
offsets.topic.replication.factor=1
offsets.topic.num.partitions=6
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=6
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
log.cleaner.backoff.ms=1000
message.max.bytes=8388608
EOF
  cat >"$home/log4j2.yaml" <<EOF
Configuration:
  Appenders:
    File:
      name: file
      fileName: "$home/server.log"
      PatternLayout:
        pattern: "[%d] %p %m (%c)%n"
  Loggers:
    Root:
      level: INFO
      AppenderRef:
        - ref: file
    Logger:
      - name: kafka.request.logger
        level: WARN
      - name: org.apache.kafka.controller
        level: WARN
EOF
}

format_storage() {
  if [ -f "$data/meta.properties" ]; then
    return 0
  fi
  local cluster_id
  cluster_id=$(java -cp "$libs/*" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n 1)
  say "formatting KRaft storage in $data (cluster $cluster_id)"
  java -cp "$libs/*" kafka.tools.StorageTool format --standalone --ignore-formatted \
    --cluster-id "$cluster_id" --config "$conf" >>"$log" 2>&1 \
    || die "formatting failed; see $log"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start() {
  require_tools
  mkdir -p "$home"
  fetch
  local pid
  if pid=$(running_pid); then
    say "already running (pid $pid) on 127.0.0.1:$port"
    return 0
  fi
  if port_open "$port"; then
    die "port $port on 127.0.0.1 is taken by another process; set DANCU_BROKER_PORT"
  fi
  write_config
  format_storage
  # The start marker we wait for must come from this run, not from an earlier one.
  if [ -f "$home/server.log" ]; then mv "$home/server.log" "$home/server.log.prev"; fi
  say "starting Kafka $kafka_version on 127.0.0.1:$port (controller $ctrl)"
  nohup java "-Xmx$heap" "-Xms256m" -XX:+UseG1GC \
    "-Dlog4j2.configurationFile=$home/log4j2.yaml" \
    -cp "$libs/*" kafka.Kafka "$conf" >>"$log" 2>&1 </dev/null &
  echo $! >"$pidfile"
  local deadline=$((SECONDS + wait_s))
  until grep -q 'Kafka Server started' "$home/server.log" 2>/dev/null && port_open "$port"; do
    if ! running_pid >/dev/null; then
      tail -n 30 "$log" "$home/server.log" 2>/dev/null >&2 || true
      die "the broker exited during start; see $log and $home/server.log"
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      die "the broker did not start within ${wait_s}s; see $home/server.log"
    fi
    sleep 0.5
  done
  say "started (pid $(cat "$pidfile"))"
}

stop() {
  local pid
  if ! pid=$(running_pid); then
    rm -f "$pidfile"
    say "not running"
    return 0
  fi
  say "stopping pid $pid"
  kill -TERM "$pid"
  for _ in $(seq 1 60); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  if kill -0 "$pid" 2>/dev/null; then
    say "pid $pid did not stop within 30s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
  say "stopped"
}

status() {
  local pid
  if pid=$(running_pid); then
    say "running (pid $pid) on 127.0.0.1:$port"
  else
    say "not running"
    return 3
  fi
}

case "${1:-}" in
  fetch) require_tools; mkdir -p "$home"; fetch; say "jars ready in $libs" ;;
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 fetch|start|stop|status" >&2; exit 2 ;;
esac
