#!/usr/bin/env bash
# The whole test suite, real-broker tests included: the README's test command, and what CI runs.
#
# It installs what the tests need and this machine may lack, starts one real Apache Kafka broker
# for the whole run (test/kafka/broker.sh), runs `go vet` and `go test ./...`, and stops the broker
# it started. A broker that was already running is reused and left running.
#
# Python: the AWS CLI (awscli) and the Lambda runtime interface client (awslambdaric) are
# installed into a virtual environment of the suite's own, never into a system Python (which
# PEP 668 forbids on Debian and Ubuntu). The environment is built from a system interpreter that
# other users can read, because functions run as processes of their own and must be able to
# start it:
#   KAFKAESM_VENV         where the environment lives. Default /var/cache/kafkaesm/venv when run
#                         as root, else ${XDG_CACHE_HOME:-~/.cache}/kafkaesm/venv.
#   KAFKAESM_TEST_PYTHON  the interpreter it is built from. Default the first of /usr/bin/python3,
#                         /usr/local/bin/python3 and python3 on PATH that other users can run.
# Its bin directory comes first on PATH for the tests: `python3` (what the python3.* runtimes run
# by default) and `aws` are the environment's. `kafkaesm serve --python $KAFKAESM_VENV/bin/python3`
# runs functions with it outside the tests.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

say() { printf 'test/all.sh: %s\n' "$*" >&2; }
need() { command -v "$1" >/dev/null || { say "'$1' is required ($2)"; exit 1; }; }
need go "https://go.dev/dl"
need java "Java 17+ runs the Kafka broker"
need mvn "Maven resolves the Kafka broker's jars"
need openssl "openssl makes the test TLS material"

# others_can_run FILE: FILE, resolved, is executable by every user, and every directory above it
# can be entered by every user (a pyenv under a 0700 /root cannot).
others_can_run() {
	local p d mode
	p=$(readlink -f "$1" 2>/dev/null) || return 1
	[ -f "$p" ] || return 1
	mode=$(stat -c %A "$p") && [ "${mode:9:1}" = x ] || return 1
	d=$(dirname "$p")
	while :; do
		mode=$(stat -c %A "$d") && [ "${mode:9:1}" = x ] || return 1
		[ "$d" = / ] && return 0
		d=$(dirname "$d")
	done
}

pick_python() {
	local c
	if [ -n "${KAFKAESM_TEST_PYTHON:-}" ]; then
		printf '%s\n' "$KAFKAESM_TEST_PYTHON"
		return 0
	fi
	for c in /usr/bin/python3 /usr/local/bin/python3 "$(command -v python3 || true)"; do
		[ -n "$c" ] && [ -x "$c" ] || continue
		# the interpreter itself, not a shim (pyenv's shims exec a binary under ~/.pyenv)
		local real
		real=$("$c" -c 'import sys; print(sys.executable)' 2>/dev/null) || continue
		if others_can_run "$real"; then
			printf '%s\n' "$real"
			return 0
		fi
	done
	return 1
}

setup_python() {
	local py venv
	py=$(pick_python) || {
		say "no Python 3 that other users can run was found (looked at /usr/bin/python3, /usr/local/bin/python3, python3 on PATH);"
		say "install one (apt-get install python3 python3-venv) or set KAFKAESM_TEST_PYTHON"
		exit 1
	}
	if [ -n "${KAFKAESM_VENV:-}" ]; then venv=$KAFKAESM_VENV
	elif [ "$(id -u)" = 0 ]; then venv=/var/cache/kafkaesm/venv
	else venv=${XDG_CACHE_HOME:-$HOME/.cache}/kafkaesm/venv; fi
	case "$(realpath -m "$venv")" in /tmp | /tmp/*)
		say "KAFKAESM_VENV=$venv is under /tmp, which functions running under their own uids do not see (they get a private /tmp): choose another place"
		exit 1 ;;
	esac
	(
		umask 022 # readable by the functions' users
		mkdir -p "$(dirname "$venv")"
		exec 8>"$venv.lock"
		flock 8
		local want have
		want=$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
		have=$("$venv/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || true)
		if [ "$have" != "$want" ]; then
			rm -rf "$venv"
			say "creating a Python $want virtual environment in $venv (from $py)"
			"$py" -m venv "$venv" >&2 || {
				rm -rf "$venv"
				say "'$py -m venv' failed: on Debian and Ubuntu, apt-get install python3-venv"
				exit 1
			}
		fi
		local missing=()
		[ -x "$venv/bin/aws" ] || missing+=(awscli)
		"$venv/bin/python" -c 'import awslambdaric' 2>/dev/null || missing+=(awslambdaric)
		if [ ${#missing[@]} -gt 0 ]; then
			say "pip install ${missing[*]} into $venv"
			"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${missing[@]}" >&2
		fi
	)
	export PATH="$venv/bin:$PATH" KAFKAESM_VENV="$venv"
	say "python3 is $venv/bin/python3 ($("$venv/bin/python3" -V 2>&1)); aws is $venv/bin/aws"
}
setup_python

started=0
if ! bash test/kafka/broker.sh status >/dev/null; then
	started=1
	[ -f "${KAFKA_TEST_CACHE:-$HOME/.cache/kafkaesm}/kafka-${KAFKA_VERSION:-4.1.1}-log4j-${LOG4J2_VERSION:-2.24.3}/.complete" ] ||
		say "first run: Maven downloads Apache Kafka's jars (about 45 MB) before the broker starts"
fi
envfile=$(mktemp)
trap 'rm -f "$envfile"; if [ "$started" = 1 ] && [ "${KAFKA_KEEP_BROKER:-}" != 1 ]; then bash test/kafka/broker.sh stop; fi' EXIT
# The env file is read back from the broker's own record rather than from start's stdout, so
# nothing a tool prints (Maven's colour codes) can end up in it; each line is checked anyway.
bash test/kafka/broker.sh start >/dev/null
bash test/kafka/broker.sh env >"$envfile"
if grep -qvE '^KAFKA_TEST_[A-Z0-9_]+=[^[:cntrl:]]*$' "$envfile" || ! grep -q '^KAFKA_TEST_BOOTSTRAP_PLAINTEXT=' "$envfile"; then
	say "the broker's env file is malformed:"
	cat -v "$envfile" >&2
	exit 1
fi
set -a
# shellcheck disable=SC1090
. "$envfile"
set +a

say "go vet ./..."
go vet ./...
say "go test ./..."
go test -count=1 -timeout 20m "$@" ./...
