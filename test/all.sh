#!/usr/bin/env bash
# The whole test suite, real-broker tests included: the README's test command, and what CI runs.
#
# It installs what the tests need and this machine may lack (Python packages: awscli, awslambdaric;
# Maven resolves the Kafka jars on first use), starts one real Apache Kafka broker for the whole run
# (test/kafka/broker.sh), runs `go vet` and `go test ./...`, and stops the broker it started. A broker
# that was already running is reused and left running.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

need() { command -v "$1" >/dev/null || { echo "test/all.sh: '$1' is required ($2)" >&2; exit 1; }; }
need go "https://go.dev/dl"
need java "Java 17+ runs the Kafka broker"
need mvn "Maven resolves the Kafka broker's jars"
need openssl "openssl makes the test TLS material"
need python3 "python3 runs the Python handler tests and the AWS CLI"

# Python packages: the AWS CLI (end-to-end API script) and the Lambda Python runtime interface client.
missing=()
command -v aws >/dev/null || missing+=(awscli)
python3 -c 'import awslambdaric' 2>/dev/null || missing+=(awslambdaric)
if [ ${#missing[@]} -gt 0 ]; then
	echo "test/all.sh: pip install ${missing[*]}" >&2
	python3 -m pip install --quiet --disable-pip-version-check "${missing[@]}" >&2
fi

started=0
if ! bash test/kafka/broker.sh status; then started=1; fi
envfile=$(mktemp)
trap 'rm -f "$envfile"; if [ "$started" = 1 ] && [ "${KAFKA_KEEP_BROKER:-}" != 1 ]; then bash test/kafka/broker.sh stop; fi' EXIT
bash test/kafka/broker.sh start >"$envfile"
set -a
# shellcheck disable=SC1090
. "$envfile"
set +a

go vet ./...
go test -count=1 -timeout 20m "$@" ./...
