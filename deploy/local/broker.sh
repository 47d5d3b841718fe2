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
#   DANCU_BROKER_SECURE 1: the secured broker (TLS, SCRAM-SHA-512, ACLs); default 0, plain
#   DANCU_BROKER_ADMIN_PASSWORD  secured only: the super user's password; default: generated once and
#                       kept in <home>/admin.password (mode 600)
#   DANCU_BROKER_TLS_DIR  secured only: ca.crt and broker.pem (key + certificate), made by
#                       `dancu-bus dev broker start` (default <home>/tls)
#   DANCU_BROKER_MTLS_PORT  secured only: a second client listener that also requires a client
#                       certificate signed by ca.crt (mutual TLS); default none
#   DANCU_BROKER_NODE_ID  this node's id (default 1)
#   DANCU_BROKER_VOTERS  a node of a cluster (`dancu-bus dev cluster`): the static controller quorum,
#                       id@127.0.0.1:<controller port>,... of every node; default none, a single node
#                       that is its own quorum. The internal topics then get 3 replicas (2 in sync).
#   DANCU_BROKER_CLUSTER_ID  the cluster id storage is formatted with; the nodes of a cluster share
#                       one (default: a new one)
#
# Secured mode (DANCU_BROKER_SECURE=1) has no anonymous and no clear-text listener: clients
# authenticate with SCRAM-SHA-512 over TLS (SASL_SSL) on 127.0.0.1:<port>, the broker talks to its
# controller with SASL/PLAIN over TLS on 127.0.0.1:<controller port>, the StandardAuthorizer denies
# whatever no ACL allows, and the super user dancu-admin is created when the storage is formatted.
# Its home defaults to <repo>/.cache/secure-broker: a home formatted for one mode is refused in the other.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
secure=${DANCU_BROKER_SECURE:-0}
case "$secure" in
  1 | true) secure=1 mode=secure default_home=$repo/.cache/secure-broker ;;
  *) secure=0 mode=plain default_home=$repo/.cache/broker ;;
esac
home=${DANCU_BROKER_HOME:-$default_home}
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
modefile=$home/mode
admin_user=dancu-admin
admin_file=$home/admin.password
tls=${DANCU_BROKER_TLS_DIR:-$home/tls}
mtls=${DANCU_BROKER_MTLS_PORT:-}
node=${DANCU_BROKER_NODE_ID:-1}
voters=${DANCU_BROKER_VOTERS:-}
cluster_id=${DANCU_BROKER_CLUSTER_ID:-}
if [ -n "$voters" ]; then
  # Every partition of an internal topic on three nodes, and a write acknowledged by two: one node
  # may be down without the offsets or the transactions refusing writes (topics.yaml's defaults).
  replicas=3 min_isr=2 quorum="controller.quorum.voters=$voters"
else
  replicas=1 min_isr=1 quorum="controller.quorum.bootstrap.servers=127.0.0.1:$ctrl"
fi

# A cluster's nodes say which one speaks.
who=broker
if [ -n "$voters" ]; then who="node $node"; fi
say() { printf '%s: %s\n' "$who" "$*"; }
die() { printf '%s: error: %s\n' "$who" "$*" >&2; exit 1; }

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

plain_listeners() {
  cat <<EOF
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$ctrl
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
EOF
}

# Clients use SCRAM-SHA-512 over TLS on CLIENT (and on MTLS, which also wants their certificate), and
# the broker reaches itself there as the admin. The controller listener uses SASL/PLAIN with a static
# user instead: KRaft controllers cannot check SCRAM credentials (they live in the metadata the
# controller serves), and an unauthenticated controller listener would need User:ANONYMOUS as a super
# user, i.e. an anonymous port with every right. Every listener speaks TLS with the one key store.
secure_listeners() {
  local scram="org.apache.kafka.common.security.scram.ScramLoginModule required"
  local plain="org.apache.kafka.common.security.plain.PlainLoginModule required"
  local listeners="CLIENT://127.0.0.1:$port" map="CONTROLLER:SASL_SSL,CLIENT:SASL_SSL"
  if [ -n "$mtls" ]; then
    listeners="$listeners,MTLS://127.0.0.1:$mtls" map="$map,MTLS:SASL_SSL"
  fi
  cat <<EOF
listeners=$listeners,CONTROLLER://127.0.0.1:$ctrl
advertised.listeners=$listeners
controller.listener.names=CONTROLLER
listener.security.protocol.map=$map
inter.broker.listener.name=CLIENT
ssl.keystore.type=PEM
ssl.keystore.location=$tls/broker.pem
ssl.truststore.type=PEM
ssl.truststore.location=$tls/ca.crt
ssl.endpoint.identification.algorithm=https
ssl.enabled.protocols=TLSv1.3,TLSv1.2
sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.client.sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.client.scram-sha-512.sasl.jaas.config=$scram username="$admin_user" password="$admin_pw";
sasl.mechanism.controller.protocol=PLAIN
listener.name.controller.sasl.enabled.mechanisms=PLAIN
listener.name.controller.plain.sasl.jaas.config=$plain username="$admin_user" password="$admin_pw" user_$admin_user="$admin_pw";
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:$admin_user
allow.everyone.if.no.acl.found=false
EOF
  if [ -n "$mtls" ]; then
    cat <<EOF
listener.name.mtls.ssl.client.auth=required
listener.name.mtls.sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.mtls.scram-sha-512.sasl.jaas.config=$scram username="$admin_user" password="$admin_pw";
EOF
  fi
}

write_config() {
  if [ "$secure" = 1 ]; then
    # The secured config holds the admin password: readable by this user only, from the first byte.
    install -m 600 /dev/null "$conf"
  fi
  cat >"$conf" <<EOF
# Written by deploy/local/broker.sh; regenerated on every start.
process.roles=broker,controller
node.id=$node
$quorum
$(if [ "$secure" = 1 ]; then secure_listeners; else plain_listeners; fi)
log.dirs=$data
num.partitions=3
min.insync.replicas=$min_isr
offsets.topic.replication.factor=$replicas
offsets.topic.num.partitions=6
transaction.state.log.replication.factor=$replicas
transaction.state.log.min.isr=$min_isr
transaction.state.log.num.partitions=6
share.coordinator.state.topic.replication.factor=$replicas
share.coordinator.state.topic.min.isr=$min_isr
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

formatted() { [ -f "$data/meta.properties" ]; }

# A home formatted plain has no mode file; a secured one says "secure". Reusing one in the other mode
# would give a broker without the admin user, or a secured storage served to anonymous clients.
check_mode() {
  formatted || return 0
  local was=plain
  if [ -f "$modefile" ]; then was=$(cat "$modefile"); fi
  [ "$was" = "$mode" ] || die "$home holds storage formatted for a $was broker, not a $mode one;" \
    "use another DANCU_BROKER_HOME (defaults: $repo/.cache/broker plain, $repo/.cache/secure-broker secured)"
}

generate_password() { od -An -tx1 -N24 /dev/urandom | tr -d ' \n'; }

# The admin password: given, or the one kept from an earlier start, or a new one. The storage is
# formatted with it once, so a different one later could never log in.
resolve_admin_password() {
  local given=${DANCU_BROKER_ADMIN_PASSWORD:-} kept=
  if [ -f "$admin_file" ]; then kept=$(cat "$admin_file"); fi
  if formatted && [ -z "$kept" ] && [ -z "$given" ]; then
    die "$admin_file is missing: set DANCU_BROKER_ADMIN_PASSWORD to the password $data was formatted with"
  fi
  if formatted && [ -n "$kept" ] && [ -n "$given" ] && [ "$given" != "$kept" ]; then
    die "DANCU_BROKER_ADMIN_PASSWORD is not the password $data was formatted with (kept in $admin_file)"
  fi
  admin_pw=${given:-${kept:-$(generate_password)}}
  # It goes into JAAS and StorageTool syntax, where quotes, commas and brackets would break it.
  case "$admin_pw" in
    *[!A-Za-z0-9._~-]*) die "the admin password may hold only letters, digits and . _ ~ -" ;;
  esac
  (umask 077 && printf '%s\n' "$admin_pw" >"$admin_file")
  chmod 600 "$admin_file"
}

format_storage() {
  if formatted; then
    return 0
  fi
  local args=$home/format.args standalone=--standalone
  if [ -z "$cluster_id" ]; then
    cluster_id=$(java -cp "$libs/*" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n 1)
  fi
  # A static quorum (controller.quorum.voters) is named in the config; --standalone would make this
  # node a quorum of its own.
  if [ -n "$voters" ]; then standalone=; fi
  # The arguments go in a file only this user may read (java @argfile): the super user's password on
  # the command line would be visible to every user of the machine (ps).
  (umask 077 && printf '%s\n' kafka.tools.StorageTool format $standalone --ignore-formatted \
    --cluster-id "$cluster_id" --config "$conf" >"$args")
  if [ "$secure" = 1 ]; then
    printf '%s\n' --add-scram "SCRAM-SHA-512=[name=$admin_user,password=$admin_pw]" >>"$args"
  fi
  say "formatting KRaft storage in $data (cluster $cluster_id)"
  if ! java -cp "$libs/*" "@$args" >>"$log" 2>&1; then
    rm -f "$args"
    die "formatting failed; see $log"
  fi
  rm -f "$args"
  if [ "$secure" = 1 ]; then echo secure >"$modefile"; fi
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start() {
  require_tools
  mkdir -p "$home"
  fetch
  check_mode
  local pid
  if pid=$(running_pid); then
    say "already running (pid $pid) on 127.0.0.1:$port"
    return 0
  fi
  if port_open "$port"; then
    die "port $port on 127.0.0.1 is taken by another process; set DANCU_BROKER_PORT"
  fi
  if [ "$secure" = 1 ]; then
    resolve_admin_password
    [ -f "$tls/broker.pem" ] && [ -f "$tls/ca.crt" ] \
      || die "no TLS key store in $tls: start the secured broker with 'dancu-bus dev broker start', which makes it"
    if [ -n "$mtls" ] && port_open "$mtls"; then
      die "port $mtls on 127.0.0.1 is taken by another process; set DANCU_BROKER_MTLS_PORT"
    fi
  fi
  write_config
  format_storage
  # The start marker we wait for must come from this run, not from an earlier one.
  if [ -f "$home/server.log" ]; then mv "$home/server.log" "$home/server.log.prev"; fi
  local how=
  if [ "$secure" = 1 ]; then
    how=", SASL_SSL + SCRAM-SHA-512, super user $admin_user${mtls:+, mutual TLS on $mtls}"
  fi
  say "starting Kafka $kafka_version on 127.0.0.1:$port (controller $ctrl$how)"
  nohup java "-Xmx$heap" "-Xms256m" -XX:+UseG1GC \
    "-Dlog4j2.configurationFile=$home/log4j2.yaml" \
    -cp "$libs/*" kafka.Kafka "$conf" >>"$log" 2>&1 </dev/null &
  echo $! >"$pidfile"
  local deadline=$((SECONDS + wait_s))
  until grep -q 'Kafka Server started' "$home/server.log" 2>/dev/null && port_open "$port"; do
    # Only whether it still lives: until the child has exec'd java, its command line is this script's.
    if ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
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
