#!/usr/bin/env bash
# Runs one real Apache Kafka 4.x broker (KRaft, combined broker+controller) from Maven Central jars,
# with every listener kafkaesm must support, for integration tests. No Docker.
#
#   test/kafka/broker.sh start    start (or reuse a running) broker; prints the env file's contents
#   test/kafka/broker.sh stop     stop it and remove its data
#   test/kafka/broker.sh env      print the env file of the running broker (exit 1 when none)
#   test/kafka/broker.sh status   say whether a broker is running (exit 0 when it is, 1 when not)
#
# Listeners on 127.0.0.1 (base port KAFKA_PORT_BASE, default 19092):
#   base+0 PLAINTEXT       admin channel; principal User:ANONYMOUS is a super user
#   base+1 SASL_PLAINTEXT  PLAIN, SCRAM-SHA-256, SCRAM-SHA-512
#   base+2 SASL_SSL        the same mechanisms over TLS (no client certificate)
#   base+3 MTLS            SSL with a required client certificate (principal User:CN=<cn>)
#   base+4 BADSAN          one-way TLS whose certificate names only DNS:wrong.invalid
#   base+7 CONTROLLER      KRaft controller
# StandardAuthorizer is on with allow.everyone.if.no.acl.found=true: a resource without ACLs is open,
# a resource with ACLs is closed to every principal they do not allow (see kafka-broker-from-maven.md §3).
# PLAIN users (static, JAAS): admin/admin-secret, alice/alice-secret, bob/bob-secret.
# SCRAM users (both mechanisms, created at format time): admin/admin-secret, alice/alice-secret.
#
# Everything lives in KAFKA_TEST_WORK (default /tmp/kafkaesm-kafka); jars are cached by version in
# KAFKA_TEST_CACHE (default ~/.cache/kafkaesm) and never committed. Concurrent `start` calls (parallel
# test packages) are serialised with flock, and a running healthy broker is reused.
set -euo pipefail

KAFKA_VERSION="${KAFKA_VERSION:-4.1.1}"
LOG4J2_VERSION="${LOG4J2_VERSION:-2.24.3}"
BASE="${KAFKA_PORT_BASE:-19092}"
P_PLAIN=$BASE P_SASL=$((BASE + 1)) P_SASLSSL=$((BASE + 2)) P_MTLS=$((BASE + 3)) P_BADSAN=$((BASE + 4)) P_CTRL=$((BASE + 7))
WORK="${KAFKA_TEST_WORK:-/tmp/kafkaesm-kafka}"
CACHE="${KAFKA_TEST_CACHE:-$HOME/.cache/kafkaesm}"
LIBS="$CACHE/kafka-$KAFKA_VERSION-log4j-$LOG4J2_VERSION"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

if [ -n "${JAVA:-}" ]; then :
elif [ -x /usr/lib/jvm/java-17-openjdk-amd64/bin/java ]; then JAVA=/usr/lib/jvm/java-17-openjdk-amd64/bin/java
else JAVA=java; fi

log() { printf 'broker.sh: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

# running: the recorded broker process is alive and its PLAINTEXT listener answers (a pid alone
# could have been reused by another process since the broker died).
running() {
	[ -f "$WORK/kafka.pid" ] && [ -f "$WORK/env" ] && kill -0 "$(cat "$WORK/kafka.pid")" 2>/dev/null &&
		grep -q "^KAFKA_TEST_BOOTSTRAP_PLAINTEXT=127.0.0.1:$P_PLAIN\$" "$WORK/env" && port_open "$P_PLAIN"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

resolve_jars() {
	[ -f "$LIBS/.complete" ] && return 0
	log "resolving Apache Kafka $KAFKA_VERSION from Maven Central into $LIBS"
	mkdir -p "$LIBS"
	local args=(-B -q -ntp -f "$HERE/pom.xml" -Dkafka.version="$KAFKA_VERSION" -Dlog4j2.version="$LOG4J2_VERSION"
		dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$LIBS")
	# stdout goes to stderr: start's stdout is the env file, and Debian's Maven writes colour
	# codes (ESC[0m) to stdout even with -B -q.
	mvn -o "${args[@]}" >/dev/null 2>&1 || mvn "${args[@]}" >&2 || die "maven could not resolve kafka_2.13:$KAFKA_VERSION"
	touch "$LIBS/.complete"
}

gen_tls() {
	local d="$WORK/tls"
	mkdir -p "$d"
	(
		cd "$d"
		exec >/dev/null 2>openssl.log
		openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 3650 -subj "/CN=kafkaesm-test-ca" \
			-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
		# a second CA nobody trusts: its client certificate must be refused, and clients trusting only it
		# must refuse the broker
		openssl req -x509 -newkey rsa:2048 -nodes -keyout rogue-ca.key -out rogue-ca.crt -days 3650 -subj "/CN=rogue-ca" \
			-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"

		sign() { # name subject extfile-lines ca
			local name=$1 subj=$2 ext=$3 ca=${4:-ca}
			openssl req -newkey rsa:2048 -nodes -keyout "$name.key" -out "$name.csr" -subj "$subj"
			printf '%b\n' "$ext" >"$name.ext"
			openssl x509 -req -in "$name.csr" -CA "$ca.crt" -CAkey "$ca.key" -CAcreateserial -days 3650 -sha256 \
				-extfile "$name.ext" -out "$name.crt"
		}
		sign broker "/CN=localhost" "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth"
		cat broker.key broker.crt >broker.pem
		sign badsan "/CN=wrong.invalid" "subjectAltName=DNS:wrong.invalid\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth"
		cat badsan.key badsan.crt >badsan.pem
		local cext="basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth"
		sign client "/CN=mtls-client" "$cext"
		sign client-noacl "/CN=mtls-noacl" "$cext"
		sign rogue-client "/CN=mtls-client" "$cext" rogue-ca
		# chains as Lambda's secret wants them: client certificate first, then the CA
		cat client.crt ca.crt >client-chain.pem
		cat client-noacl.crt ca.crt >client-noacl-chain.pem
		cat rogue-client.crt rogue-ca.crt >rogue-client-chain.pem
		# every private-key encoding kafkaesm must read (password "changeit")
		openssl pkcs8 -topk8 -nocrypt -in client.key -out client.pkcs8.pem
		openssl pkcs8 -topk8 -v1 PBE-SHA1-3DES -in client.key -out client.pbes1-3des.pem -passout pass:changeit
		openssl pkcs8 -topk8 -v1 PBE-MD5-DES -provider legacy -provider default -in client.key \
			-out client.pbes1-md5des.pem -passout pass:changeit || true
		openssl pkcs8 -topk8 -v2 aes256 -in client.key -out client.pbes2-aes256.pem -passout pass:changeit
		openssl pkcs8 -topk8 -v2 aes256 -v2prf hmacWithSHA1 -in client.key -out client.pbes2-sha1.pem -passout pass:changeit
		openssl rsa -in client.key -traditional -out client.pkcs1.pem
		openssl pkcs8 -topk8 -nocrypt -in client-noacl.key -out client-noacl.pkcs8.pem
		openssl pkcs8 -topk8 -nocrypt -in rogue-client.key -out rogue-client.pkcs8.pem
		rm -f ./*.csr ./*.ext ./*.srl
	) || die "openssl failed: $(cat "$d/openssl.log" 2>/dev/null)"
}

write_config() {
	local jaas_plain='org.apache.kafka.common.security.plain.PlainLoginModule required user_admin="admin-secret" user_alice="alice-secret" user_bob="bob-secret";'
	local jaas_scram='org.apache.kafka.common.security.scram.ScramLoginModule required;'
	cat >"$WORK/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.listener.names=CONTROLLER
controller.quorum.bootstrap.servers=127.0.0.1:$P_CTRL
listeners=PLAINTEXT://127.0.0.1:$P_PLAIN,SASL_PLAINTEXT://127.0.0.1:$P_SASL,SASL_SSL://127.0.0.1:$P_SASLSSL,MTLS://127.0.0.1:$P_MTLS,BADSAN://127.0.0.1:$P_BADSAN,CONTROLLER://127.0.0.1:$P_CTRL
advertised.listeners=PLAINTEXT://127.0.0.1:$P_PLAIN,SASL_PLAINTEXT://127.0.0.1:$P_SASL,SASL_SSL://127.0.0.1:$P_SASLSSL,MTLS://127.0.0.1:$P_MTLS,BADSAN://127.0.0.1:$P_BADSAN,CONTROLLER://127.0.0.1:$P_CTRL
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL,MTLS:SSL,BADSAN:SSL,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$WORK/data
num.partitions=1
default.replication.factor=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
log.cleaner.dedupe.buffer.size=2097152
num.network.threads=3
num.io.threads=4
broker.heartbeat.interval.ms=500
message.max.bytes=16777216
replica.fetch.max.bytes=16777216
sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512
listener.name.sasl_plaintext.plain.sasl.jaas.config=$jaas_plain
listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config=$jaas_scram
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=$jaas_scram
listener.name.sasl_ssl.plain.sasl.jaas.config=$jaas_plain
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=$jaas_scram
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=$jaas_scram
ssl.keystore.type=PEM
ssl.keystore.location=$WORK/tls/broker.pem
ssl.truststore.type=PEM
ssl.truststore.location=$WORK/tls/ca.crt
listener.name.mtls.ssl.client.auth=required
listener.name.badsan.ssl.keystore.location=$WORK/tls/badsan.pem
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:ANONYMOUS;User:admin
allow.everyone.if.no.acl.found=true
EOF
	cat >"$WORK/broker-log4j2.properties" <<'EOF'
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = ${sys:kafka.logs.dir}/server.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.file.ref = FILE
logger.request.name = kafka.request.logger
logger.request.level = warn
logger.requestchannel.name = kafka.network.RequestChannel$
logger.requestchannel.level = warn
EOF
	cat >"$WORK/tools-log4j2.properties" <<'EOF'
appender.stderr.type = Console
appender.stderr.name = STDERR
appender.stderr.target = SYSTEM_ERR
appender.stderr.layout.type = PatternLayout
appender.stderr.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = warn
rootLogger.appenderRef.stderr.ref = STDERR
EOF
}

stop_pid() {
	local pid=$1
	# only ever signal our broker: a stale pid file may name a pid reused by another process
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'kafka\.Kafka' || return 0
	kill -TERM "$pid" 2>/dev/null || return 0
	for _ in $(seq 60); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.5; done
	kill -KILL "$pid" 2>/dev/null || true
}

fail_start() {
	log "$1"
	log "---- last lines of $WORK/logs/server.log ----"
	tail -n 60 "$WORK/logs/server.log" >&2 2>/dev/null || true
	log "---- last lines of $WORK/logs/kafka.out ----"
	tail -n 40 "$WORK/logs/kafka.out" >&2 2>/dev/null || true
	[ -n "${KPID:-}" ] && stop_pid "$KPID"
	exit 1
}

do_start() {
	if running; then cat "$WORK/env"; return 0; fi
	# a stale broker from an earlier run (pid file without env) is stopped; its data is thrown away
	[ -f "$WORK/kafka.pid" ] && stop_pid "$(cat "$WORK/kafka.pid")"
	for p in $P_PLAIN $P_SASL $P_SASLSSL $P_MTLS $P_BADSAN $P_CTRL; do
		port_open "$p" && die "port $p is already in use (set KAFKA_PORT_BASE to move the broker)"
	done
	command -v openssl >/dev/null || die "openssl is required"
	command -v mvn >/dev/null || die "maven (mvn) is required"
	resolve_jars
	rm -rf "$WORK/data" "$WORK/logs" "$WORK/tls" "$WORK/env" "$WORK/kafka.pid"
	mkdir -p "$WORK/data" "$WORK/logs"
	gen_tls
	write_config

	local cp="$LIBS/*"
	local perf=(-server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35
		-XX:+ExplicitGCInvokesConcurrent -XX:MaxInlineLevel=15 -Djava.awt.headless=true)
	local cluster_id
	cluster_id=$(head -c16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')
	case "$cluster_id" in -*) cluster_id="A${cluster_id#?}" ;; esac
	"$JAVA" -Xmx256m -XX:TieredStopAtLevel=1 -Dlog4j2.configurationFile="$WORK/tools-log4j2.properties" -cp "$cp" \
		kafka.tools.StorageTool format --config "$WORK/server.properties" --cluster-id "$cluster_id" --standalone \
		--add-scram 'SCRAM-SHA-256=[name=alice,password=alice-secret]' \
		--add-scram 'SCRAM-SHA-512=[name=alice,password=alice-secret]' \
		--add-scram 'SCRAM-SHA-256=[name=admin,password=admin-secret]' \
		--add-scram 'SCRAM-SHA-512=[name=admin,password=admin-secret]' >"$WORK/logs/format.out" 2>&1 ||
		{ cat "$WORK/logs/format.out" >&2; die "kafka storage format failed"; }

	# setsid: the broker must outlive the shell (and test process) that started it. 9>&-: it must not
	# inherit the flock, or every later `start` would wait for the broker to exit.
	setsid "$JAVA" -Xms256m -Xmx768m "${perf[@]}" \
		-Dkafka.logs.dir="$WORK/logs" -Dlog4j2.configurationFile="$WORK/broker-log4j2.properties" \
		-cp "$cp" kafka.Kafka "$WORK/server.properties" >"$WORK/logs/kafka.out" 2>&1 </dev/null 9>&- &
	KPID=$!
	echo "$KPID" >"$WORK/kafka.pid"

	local deadline=$((SECONDS + ${KAFKA_START_TIMEOUT:-120}))
	until grep -q 'Kafka Server started' "$WORK/logs/server.log" 2>/dev/null; do
		kill -0 "$KPID" 2>/dev/null || fail_start "the broker exited during start-up"
		[ "$SECONDS" -ge "$deadline" ] && fail_start "the broker was not ready in time"
		sleep 0.5
	done
	for p in $P_PLAIN $P_SASL $P_SASLSSL $P_MTLS $P_BADSAN; do
		until port_open "$p"; do
			[ "$SECONDS" -ge "$deadline" ] && fail_start "listener 127.0.0.1:$p does not accept connections"
			sleep 0.2
		done
	done
	cat >"$WORK/env.tmp" <<EOF
KAFKA_TEST_BOOTSTRAP_PLAINTEXT=127.0.0.1:$P_PLAIN
KAFKA_TEST_BOOTSTRAP_SASL_PLAINTEXT=127.0.0.1:$P_SASL
KAFKA_TEST_BOOTSTRAP_SASL_SSL=127.0.0.1:$P_SASLSSL
KAFKA_TEST_BOOTSTRAP_MTLS=127.0.0.1:$P_MTLS
KAFKA_TEST_BOOTSTRAP_BADSAN=127.0.0.1:$P_BADSAN
KAFKA_TEST_TLS_DIR=$WORK/tls
KAFKA_TEST_LOGS=$WORK/logs
KAFKA_TEST_PID=$KPID
KAFKA_TEST_VERSION=$KAFKA_VERSION
EOF
	mv "$WORK/env.tmp" "$WORK/env"
	log "Apache Kafka $KAFKA_VERSION ready (pid $KPID)"
	cat "$WORK/env"
}

do_stop() {
	if [ -f "$WORK/kafka.pid" ]; then stop_pid "$(cat "$WORK/kafka.pid")"; fi
	rm -rf "$WORK/data" "$WORK/env" "$WORK/kafka.pid"
}

mkdir -p "$WORK"
case "${1:-}" in
start)
	exec 9>"$WORK/.lock"
	flock 9
	do_start
	;;
stop)
	exec 9>"$WORK/.lock"
	flock 9
	do_stop
	;;
env) running && cat "$WORK/env" ;;
status)
	if running; then
		echo "running: Apache Kafka $(sed -n 's/^KAFKA_TEST_VERSION=//p' "$WORK/env"), pid $(cat "$WORK/kafka.pid"), PLAINTEXT 127.0.0.1:$P_PLAIN (listeners $P_PLAIN-$P_BADSAN, work dir $WORK)"
	else
		echo "not running (PLAINTEXT 127.0.0.1:$P_PLAIN, work dir $WORK)"
		exit 1
	fi
	;;
*)
	echo "usage: $0 start|stop|env|status" >&2
	exit 2
	;;
esac
