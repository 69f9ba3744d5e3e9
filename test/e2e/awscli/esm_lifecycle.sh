#!/usr/bin/env bash
# End-to-end life cycle of a function and a Kafka event source mapping through the AWS CLI.
# Usage: ENDPOINT=http://127.0.0.1:9001 CREDENTIALS=<data-dir>/credentials test/e2e/awscli/esm_lifecycle.sh
# Needs: aws (v1 or v2), python3. Talks only to $ENDPOINT; needs no Kafka broker.
set -euo pipefail

# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SUFFIX=$$
FN="cli-fn-$SUFFIX"
TOPIC="cli-topic-$SUFFIX"
SECRET="arn:aws:secretsmanager:us-east-1:000000000000:secret:kafka-$SUFFIX"

# wait_state UUID STATE: poll until the mapping is in STATE (20 s).
wait_state() {
	for _ in $(seq 1 200); do
		lam get-event-source-mapping --uuid "$1" >"$WORK/state.json"
		if python3 -c 'import json,sys; sys.exit(0 if json.load(open(sys.argv[1]))["State"] == sys.argv[2] else 1)' "$WORK/state.json" "$2"; then
			return 0
		fi
		sleep 0.1
	done
	fail "mapping $1 did not reach $2: $(cat "$WORK/state.json")"
}

step "create-function (provided.al2023, zip with an executable bootstrap)"
python3 - "$WORK/fn.zip" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1], "w") as z:
    info = zipfile.ZipInfo("bootstrap")
    info.external_attr = 0o100755 << 16
    info.create_system = 3
    z.writestr(info, "#!/bin/sh\necho hello\n")
PY
lam create-function --function-name "$FN" --runtime provided.al2023 --handler bootstrap \
	--role arn:aws:iam::000000000000:role/lambda --zip-file "fileb://$WORK/fn.zip" >"$WORK/fn.json"
SHA=$(python3 -c 'import base64,hashlib,sys; print(base64.b64encode(hashlib.sha256(open(sys.argv[1],"rb").read()).digest()).decode())' "$WORK/fn.zip")
check "$WORK/fn.json" "d['FunctionName'] == '$FN' and d['CodeSha256'] == '$SHA' and d['Timeout'] == 3 and d['MemorySize'] == 128 and d['Version'] == '\$LATEST' and d['FunctionArn'] == 'arn:aws:lambda:us-east-1:000000000000:function:$FN'"
expect_error ResourceConflictException lam create-function --function-name "$FN" --runtime provided.al2023 \
	--role arn:aws:iam::000000000000:role/lambda --zip-file "fileb://$WORK/fn.zip"
python3 -c 'import sys,zipfile; zipfile.ZipFile(sys.argv[1],"w").writestr("main.py","x")' "$WORK/nobootstrap.zip"
expect_error InvalidParameterValueException lam create-function --function-name "$FN-bad" --runtime provided.al2 \
	--role arn:aws:iam::000000000000:role/lambda --zip-file "fileb://$WORK/nobootstrap.zip"

step "get-function / get-function-configuration / list-functions"
lam get-function --function-name "arn:aws:lambda:us-east-1:000000000000:function:$FN" >"$WORK/get.json"
check "$WORK/get.json" "d['Configuration']['FunctionName'] == '$FN' and d['Code']['RepositoryType'] == 'S3'"
lam get-function-configuration --function-name "$FN" >"$WORK/cfg.json"
check "$WORK/cfg.json" "d['Runtime'] == 'provided.al2023'"
lam list-functions >"$WORK/list.json"
check "$WORK/list.json" "'$FN' in [f['FunctionName'] for f in d['Functions']]"
expect_error ResourceNotFoundException lam get-function --function-name "nope-$SUFFIX"

step "update-function-configuration / put-function-concurrency"
lam update-function-configuration --function-name "$FN" --timeout 60 --memory-size 256 \
	--environment 'Variables={GREETING=hello}' >"$WORK/upd.json"
check "$WORK/upd.json" "d['Timeout'] == 60 and d['MemorySize'] == 256 and d['Environment']['Variables']['GREETING'] == 'hello'"
expect_error InvalidParameterValueException lam update-function-configuration --function-name "$FN" --timeout 901
lam put-function-concurrency --function-name "$FN" --reserved-concurrent-executions 5 >"$WORK/conc.json"
check "$WORK/conc.json" "d['ReservedConcurrentExecutions'] == 5"

step "create-event-source-mapping"
lam create-event-source-mapping --function-name "$FN" --topics "$TOPIC" \
	--self-managed-event-source '{"Endpoints":{"KAFKA_BOOTSTRAP_SERVERS":["localhost:9092"]}}' \
	--source-access-configurations "Type=SASL_SCRAM_512_AUTH,URI=$SECRET" \
	--starting-position TRIM_HORIZON --tags team=cli >"$WORK/esm.json"
check "$WORK/esm.json" "d['State'] == 'Creating' and d['BatchSize'] == 100 and d['StateTransitionReason'] == 'USER_INITIATED' and d['LastProcessingResult'] == 'No records processed' and d['SelfManagedKafkaEventSourceConfig']['ConsumerGroupId'] == d['UUID'] and d['Topics'] == ['$TOPIC'] and d['EventSourceMappingArn'].endswith(':event-source-mapping:' + d['UUID'])"
UUID=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["UUID"])' "$WORK/esm.json")
ARN=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["EventSourceMappingArn"])' "$WORK/esm.json")
wait_state "$UUID" Enabled

step "validation errors"
expect_error ResourceConflictException lam create-event-source-mapping --function-name "$FN" --topics "$TOPIC" \
	--self-managed-event-source '{"Endpoints":{"KAFKA_BOOTSTRAP_SERVERS":["localhost:9092"]}}' \
	--source-access-configurations "Type=SASL_SCRAM_512_AUTH,URI=$SECRET"
# SourceAccessConfigurations may be left out (PLAINTEXT); an unsupported type is refused.
expect_error InvalidParameterValueException lam create-event-source-mapping --function-name "$FN" --topics other-topic \
	--self-managed-event-source '{"Endpoints":{"KAFKA_BOOTSTRAP_SERVERS":["localhost:9092"]}}' \
	--source-access-configurations "Type=VIRTUAL_HOST,URI=vhost"
expect_error ValidationException lam create-event-source-mapping --function-name "$FN" --topics other-topic \
	--self-managed-event-source '{"Endpoints":{"KAFKA_BOOTSTRAP_SERVERS":["localhost:9092"]}}' \
	--source-access-configurations "Type=SASL_SCRAM_512_AUTH,URI=$SECRET" --starting-position NOW
expect_error InvalidParameterValueException lam create-event-source-mapping --function-name "nope-$SUFFIX" --topics other-topic \
	--self-managed-event-source '{"Endpoints":{"KAFKA_BOOTSTRAP_SERVERS":["localhost:9092"]}}' \
	--source-access-configurations "Type=SASL_SCRAM_512_AUTH,URI=$SECRET"
grep -q "Function does not exist" "$WORK/err" || fail "unknown function message: $(cat "$WORK/err")"
expect_error InvalidParameterValueException lam update-event-source-mapping --uuid "$UUID" --batch-size 10001
expect_error ResourceNotFoundException lam get-event-source-mapping --uuid 00000000-0000-0000-0000-000000000000

step "get / list"
lam get-event-source-mapping --uuid "$UUID" >"$WORK/get-esm.json"
check "$WORK/get-esm.json" "d['State'] == 'Enabled' and d['FunctionArn'] == 'arn:aws:lambda:us-east-1:000000000000:function:$FN'"
lam list-event-source-mappings --function-name "$FN" >"$WORK/list-esm.json"
check "$WORK/list-esm.json" "[m['UUID'] for m in d['EventSourceMappings']] == ['$UUID']"

step "update-event-source-mapping"
lam update-event-source-mapping --uuid "$UUID" --batch-size 50 --maximum-batching-window-in-seconds 1 \
	--destination-config '{"OnFailure":{"Destination":"kafka://'"$TOPIC"'-dlq"}}' >"$WORK/upd-esm.json"
check "$WORK/upd-esm.json" "d['State'] in ('Updating', 'Enabled') and d['BatchSize'] == 50 and d['MaximumBatchingWindowInSeconds'] == 1 and d['DestinationConfig']['OnFailure']['Destination'] == 'kafka://$TOPIC-dlq'"
wait_state "$UUID" Enabled
lam update-event-source-mapping --uuid "$UUID" --no-enabled >"$WORK/dis.json"
check "$WORK/dis.json" "d['State'] in ('Disabling', 'Disabled')"
wait_state "$UUID" Disabled

step "tags"
lam list-tags --resource "$ARN" >"$WORK/tags.json"
check "$WORK/tags.json" "d['Tags'] == {'team': 'cli'}"
lam tag-resource --resource "$ARN" --tags env=test,owner=me
lam untag-resource --resource "$ARN" --tag-keys owner
lam list-tags --resource "$ARN" >"$WORK/tags.json"
check "$WORK/tags.json" "d['Tags'] == {'team': 'cli', 'env': 'test'}"

step "delete-event-source-mapping"
lam delete-event-source-mapping --uuid "$UUID" >"$WORK/del.json"
check "$WORK/del.json" "d['State'] == 'Deleting' and d['UUID'] == '$UUID'"
for _ in $(seq 1 200); do
	if ! lam get-event-source-mapping --uuid "$UUID" >/dev/null 2>"$WORK/err"; then
		break
	fi
	sleep 0.1
done
grep -q "(ResourceNotFoundException)" "$WORK/err" || fail "mapping not deleted: $(cat "$WORK/err")"

step "delete-function"
lam delete-function --function-name "$FN"
expect_error ResourceNotFoundException lam get-function --function-name "$FN"

echo "OK: AWS CLI life cycle passed against $ENDPOINT"
