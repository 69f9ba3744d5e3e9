#!/usr/bin/env bash
# The fresh-machine check: runs the README's set-up commands the way a new user's machine would,
# from a fresh clone of this repository's HEAD, and fails unless they work the first time.
#
#   test/fresh-machine.sh            (takes several minutes: everything is downloaded and built)
#   FRESH_DRY=1 test/fresh-machine.sh   only sets up and shows the environment
#
# What "fresh" means here, all in one temporary directory (removed afterwards; FRESH_KEEP=1 keeps it):
#   - an empty Go module and build cache (GOPATH, GOMODCACHE, GOCACHE; GOFLAGS=-modcacherw so the
#     module cache can be removed), GOTOOLCHAIN=local (no toolchain download);
#   - an empty Maven repository (maven.repo.local) and Maven user.home, and an empty kafkaesm jar
#     cache (KAFKA_TEST_CACHE): Apache Kafka's jars are downloaded again;
#   - HOME is an empty directory;
#   - no awscli on PATH, and no pyenv: python3 is the system's, and pip into it is refused as on
#     Debian and Ubuntu (PEP 668). The system's own EXTERNALLY-MANAGED marker is checked; on top,
#     python3/pip/pip3 wrappers first on PATH refuse and record any pip install outside a
#     virtual environment, so the check holds on machines without the marker too;
#   - the suite's Python virtual environment in the temporary directory (KAFKAESM_VENV), built
#     by test/all.sh from scratch;
#   - a broker of its own on other ports (KAFKA_PORT_BASE=20092, KAFKA_TEST_WORK in the temporary
#     directory), so a broker already running for others (19092) is neither used nor touched.
#
# Steps, each timed:
#   1. go run ./cmd/kafkaesm version   the first go run: module download and build
#   2. go run ./cmd/kafkaesm serve     must answer /healthz within 60 s, then stop cleanly on
#                                      SIGTERM (exit 0, "kafkaesm stopped" logged)
#   3. ./test/all.sh                   must pass
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
START=$SECONDS

say() { printf 'fresh-machine: %s\n' "$*" >&2; }
die() { say "FAILED: $*"; exit 1; }

# Not under /tmp: functions running under their own uids get a private /tmp, and the venv in
# here must be visible (and readable) to them.
T=$(mktemp -d /var/tmp/kafkaesm-fresh.XXXXXX)
chmod 755 "$T"
SERVE_PID=
cleanup() {
	local rc=$?
	if [ -n "$SERVE_PID" ]; then kill -KILL "$SERVE_PID" 2>/dev/null || true; fi
	if [ -d "$T/src" ]; then
		KAFKA_PORT_BASE=20092 KAFKA_TEST_WORK="$T/kafka" bash "$T/src/test/kafka/broker.sh" stop >/dev/null 2>&1 || true
	fi
	if [ "${FRESH_KEEP:-}" = 1 ]; then
		say "kept $T"
	else
		chmod -R u+w "$T" 2>/dev/null || true
		rm -rf "$T"
	fi
	exit $rc
}
trap cleanup EXIT

# --- the fresh environment -------------------------------------------------------------------
mkdir -p "$T/home" "$T/bin"
export HOME="$T/home"
export GOPATH="$T/gopath" GOMODCACHE="$T/gopath/pkg/mod" GOCACHE="$T/gocache" GOFLAGS="-modcacherw" GOTOOLCHAIN=local
export MAVEN_OPTS="-Duser.home=$T/home -Dmaven.repo.local=$T/m2"
export KAFKA_TEST_CACHE="$T/kafka-cache" KAFKA_TEST_WORK="$T/kafka" KAFKA_PORT_BASE=20092
export KAFKAESM_VENV="$T/venv"
unset KAFKA_TEST_BOOTSTRAP_PLAINTEXT KAFKAESM_ENDPOINT KAFKAESM_BOOTSTRAP KAFKAESM_TEST_PYTHON VIRTUAL_ENV PYENV_VERSION 2>/dev/null || true

# PATH without pyenv, without the real home's directories (~/go/bin, ~/.cargo/bin, …) and
# without any directory holding an aws command.
realhome=$(getent passwd "$(id -u)" | cut -d: -f6)
newpath="$T/bin"
IFS=: read -r -a dirs <<<"$PATH"
for d in "${dirs[@]}"; do
	case "$d" in *pyenv* | *conda* | */.venv* | "" | "$realhome"/*) continue ;; esac
	[ -e "$d/aws" ] && continue
	newpath="$newpath:$d"
done
export PATH="$newpath"

syspy=$(command -v python3 || true)
[ -n "$syspy" ] || die "no python3 on the fresh PATH ($PATH)"
# The pip guard: a pip install outside a virtual environment is refused and recorded.
for name in python3 pip pip3; do
	cat >"$T/bin/$name" <<EOF
#!/bin/sh
# fresh-machine.sh: system Python with pip refused (PEP 668), as on Debian and Ubuntu.
case "$name \$*" in
*"pip install"* | *"pip3 install"* | "python3 -m pip install"* | "python3 -m pip3 install"*)
	echo "fresh-machine: refused: $name \$*" >>"$T/pip-attempts"
	echo "error: externally-managed-environment (fresh-machine.sh emulates PEP 668)" >&2
	exit 1 ;;
esac
exec "$syspy" \$( [ "$name" = python3 ] || echo "-m pip" ) "\$@"
EOF
	chmod 755 "$T/bin/$name"
done
command -v aws >/dev/null && die "aws is still on PATH: $(command -v aws)"
marker=$("$syspy" -c 'import os, sysconfig; print(os.path.exists(os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED")))')

say "temporary directory $T"
say "go $(go env GOVERSION), $(java -version 2>&1 | head -1), $(mvn -v 2>/dev/null | head -1 | sed 's/\x1b\[[0-9;]*m//g')"
say "python3 on PATH: $syspy via the pip guard; system marker EXTERNALLY-MANAGED: $marker; aws: none"
say "load average: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores"

git clone --quiet --no-hardlinks "$REPO" "$T/src"
git -C "$T/src" checkout --quiet "$(git -C "$REPO" rev-parse HEAD)"
cd "$T/src"
say "fresh clone of $(git rev-parse --short HEAD) in $T/src"
if [ "${FRESH_DRY:-}" = 1 ]; then # only set up and show the environment
	say "dry run: PATH=$PATH"
	exit 0
fi

# --- 1. the first go run ---------------------------------------------------------------------
TIMEFORMAT='%R %U %S'
{ time go run ./cmd/kafkaesm version >"$T/version.out" 2>"$T/version.err"; } 2>"$T/version.time" ||
	{ cat "$T/version.err" >&2; die "go run ./cmd/kafkaesm version"; }
read -r real user sys <"$T/version.time"
FIRST_RUN=${real%.*}
say "1. first go run (download modules, build): ${real} s elapsed, $(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.0f", u + s }') s CPU; $(du -sh "$GOMODCACHE/cache/download" | cut -f1) of modules downloaded — $(cat "$T/version.out")"

# --- 2. serve: /healthz within 60 s, clean stop on SIGTERM -------------------------------------
t0=$SECONDS
go run ./cmd/kafkaesm serve --listen 127.0.0.1:0 --data-dir "$T/data" >"$T/serve.log" 2>&1 &
SERVE_PID=$!
addr=
deadline=$((SECONDS + 60))
while [ "$SECONDS" -lt "$deadline" ]; do
	kill -0 "$SERVE_PID" 2>/dev/null || { cat "$T/serve.log" >&2; die "serve exited during start-up"; }
	addr=$(sed -n 's/.*"msg":"kafkaesm listening".*"addr":"\([^"]*\)".*/\1/p' "$T/serve.log" | head -1)
	if [ -n "$addr" ] && curl -fsS "http://$addr/healthz" >/dev/null 2>&1; then break; fi
	addr=
	sleep 0.2
done
[ -n "$addr" ] || { cat "$T/serve.log" >&2; die "serve did not answer /healthz within 60 s"; }
SERVE_UP=$((SECONDS - t0))
say "2. go run ./cmd/kafkaesm serve answered http://$addr/healthz after ${SERVE_UP} s"
# SIGTERM goes to the server itself, as systemd or docker would send it: go run does not relay
# SIGTERM to its child (Ctrl-C reaches both, go run ignores it).
srv=$(pgrep -P "$SERVE_PID" -f 'kafkaesm serve' | head -1 || true)
[ -n "$srv" ] || srv=$SERVE_PID
t0=$SECONDS
kill -TERM "$srv"
stopped=0
for _ in $(seq 600); do
	kill -0 "$srv" 2>/dev/null || { stopped=1; break; }
	sleep 0.1
done
[ "$stopped" = 1 ] || { cat "$T/serve.log" >&2; die "serve did not stop within 60 s of SIGTERM"; }
rc=0
wait "$SERVE_PID" || rc=$?
SERVE_PID=
grep -q '"msg":"kafkaesm stopped"' "$T/serve.log" || { cat "$T/serve.log" >&2; die "serve logged no \"kafkaesm stopped\""; }
grep -q '"level":"ERROR"' "$T/serve.log" && { cat "$T/serve.log" >&2; die "serve logged an error"; }
[ "$rc" = 0 ] || { cat "$T/serve.log" >&2; die "serve (go run) exited with $rc after SIGTERM"; }
say "   SIGTERM: stopped cleanly in $((SECONDS - t0)) s (exit 0, \"kafkaesm stopped\")"

# --- 3. the test command ----------------------------------------------------------------------
t0=$SECONDS
rc=0
./test/all.sh >"$T/all.log" 2>&1 || rc=$?
ALL=$((SECONDS - t0))
if [ "$rc" != 0 ]; then
	grep -E '^(--- FAIL|FAIL|ok|panic|test/all.sh)' "$T/all.log" >&2 || true
	tail -n 60 "$T/all.log" >&2
	FRESH_KEEP=1
	die "./test/all.sh exited with $rc after ${ALL} s (log: $T/all.log)"
fi
grep '^test/all.sh:' "$T/all.log" >&2 || true
say "3. ./test/all.sh passed in ${ALL} s"
if [ -s "$T/pip-attempts" ]; then
	cat "$T/pip-attempts" >&2
	die "something ran pip install outside a virtual environment"
fi
[ -x "$T/venv/bin/python3" ] && "$T/venv/bin/python3" -c 'import awslambdaric' || die "no venv with awslambdaric in $T/venv"

say "PASSED in $((SECONDS - START)) s: first go run ${FIRST_RUN} s, serve to /healthz ${SERVE_UP} s, test/all.sh ${ALL} s (load average now $(cut -d' ' -f1-3 /proc/loadavg))"
