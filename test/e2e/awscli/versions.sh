#!/usr/bin/env bash
# A deployment with versions and an alias through the AWS CLI: publish → alias → mapping on the
# alias → update the alias (canary weight, then all traffic) → roll back, invoking the alias at
# each step to see which version runs. (Every error case is in TestVersionsAndAliasesSDK; this
# script keeps to the workflow, since each aws call costs about a second.)
# Usage: ENDPOINT=http://127.0.0.1:9001 CREDENTIALS=<data-dir>/credentials HANDLER_ZIP=fn.zip test/e2e/awscli/versions.sh
# HANDLER_ZIP: a provided.al2023 zip whose handler answers {"action":"env"} with its
# environment (internal/invoke/testdata/handler). Needs: aws (v1 or v2), python3; no broker.
set -euo pipefail

: "${HANDLER_ZIP:?set HANDLER_ZIP to the test handler zip}"
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SUFFIX=$$
FN="cli-ver-$SUFFIX"
ARNP="arn:aws:lambda:us-east-1:000000000000:function:$FN"

BINFMT=()
if aws --version 2>&1 | grep -q '^aws-cli/2'; then BINFMT=(--cli-binary-format raw-in-base64-out); fi
# runs NAME: invoke NAME and print "EXECUTED_VERSION USER_VAR".
runs() {
	lam invoke --function-name "$1" "${BINFMT[@]}" --payload '{"action":"env"}' "$WORK/payload.json" >"$WORK/inv.json"
	python3 - "$WORK/inv.json" "$WORK/payload.json" <<'PY'
import json, sys
inv, env = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
assert inv["ExecutedVersion"] == env["AWS_LAMBDA_FUNCTION_VERSION"], (inv, env)
print(inv["ExecutedVersion"], env.get("USER_VAR"))
PY
}
expect_runs() {
	local got
	got=$(runs "$1")
	[ "$got" = "$2" ] || fail "invoke $1 ran '$got', want '$2'"
}

step "create-function --publish: version 1"
lam create-function --function-name "$FN" --runtime provided.al2023 --handler bootstrap \
	--role arn:aws:iam::000000000000:role/lambda --zip-file "fileb://$HANDLER_ZIP" \
	--environment 'Variables={USER_VAR=one}' --publish >"$WORK/fn.json"
check "$WORK/fn.json" "d['Version'] == '1' and d['FunctionArn'] == '$ARNP:1'"

step "update-function-configuration, publish-version: version 2"
lam update-function-configuration --function-name "$FN" --environment 'Variables={USER_VAR=two}' >"$WORK/upd.json"
REV=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["RevisionId"])' "$WORK/upd.json")
expect_error PreconditionFailedException lam publish-version --function-name "$FN" --revision-id stale
lam publish-version --function-name "$FN" --revision-id "$REV" --description "second" >"$WORK/v2.json"
check "$WORK/v2.json" "d['Version'] == '2' and d['Description'] == 'second' and d['Environment']['Variables']['USER_VAR'] == 'two'"
lam list-versions-by-function --function-name "$FN" >"$WORK/versions.json"
check "$WORK/versions.json" "[v['Version'] for v in d['Versions']] == ['\$LATEST', '1', '2']"

step "create-alias live → 1; a mapping on the alias"
lam create-alias --function-name "$FN" --name live --function-version 1 >"$WORK/alias.json"
check "$WORK/alias.json" "d['AliasArn'] == '$ARNP:live' and d['FunctionVersion'] == '1'"
lam create-event-source-mapping --function-name "$FN:live" --topics "cli-ver-$SUFFIX" \
	--self-managed-event-source '{"Endpoints":{"KAFKA_BOOTSTRAP_SERVERS":["localhost:9092"]}}' \
	--source-access-configurations Type=VPC_SUBNET,URI=subnet:local >"$WORK/esm.json"
check "$WORK/esm.json" "d['FunctionArn'] == '$ARNP:live'"
UUID=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["UUID"])' "$WORK/esm.json")
expect_error InvalidParameterValueException lam create-event-source-mapping --function-name "$FN:nope" --topics "cli-ver-$SUFFIX-2" \
	--self-managed-event-source '{"Endpoints":{"KAFKA_BOOTSTRAP_SERVERS":["localhost:9092"]}}' \
	--source-access-configurations Type=VPC_SUBNET,URI=subnet:local
grep -q "Function does not exist" "$WORK/err" || fail "unknown alias message: $(cat "$WORK/err")"
expect_runs "$FN:live" "1 one"
expect_runs "$ARNP:2" "2 two"

step "update-alias: canary (10% on 2), then all traffic on 2"
lam update-alias --function-name "$FN" --name live --routing-config '{"AdditionalVersionWeights":{"2":0.1}}' >"$WORK/canary.json"
check "$WORK/canary.json" "d['FunctionVersion'] == '1' and d['RoutingConfig']['AdditionalVersionWeights'] == {'2': 0.1}"
lam update-alias --function-name "$FN" --name live --function-version 2 --routing-config '{"AdditionalVersionWeights":{}}' >"$WORK/live2.json"
check "$WORK/live2.json" "d['FunctionVersion'] == '2' and 'RoutingConfig' not in d"
expect_runs "$FN:live" "2 two"
lam get-event-source-mapping --uuid "$UUID" >"$WORK/esm-get.json"
check "$WORK/esm-get.json" "d['FunctionArn'] == '$ARNP:live'"

step "rollback: update-alias live → 1"
lam update-alias --function-name "$FN" --name live --function-version 1 >"$WORK/rollback.json"
check "$WORK/rollback.json" "d['FunctionVersion'] == '1'"
expect_runs "$FN:live" "1 one"
expect_error ResourceConflictException lam delete-function --function-name "$FN" --qualifier 1
grep -q "Unable to delete version because the following aliases reference it: \[live\]" "$WORK/err" || fail "delete version message: $(cat "$WORK/err")"
lam delete-function --function-name "$FN" --qualifier 2
expect_error InvalidParameterValueException lam put-provisioned-concurrency-config --function-name "$FN" --qualifier live --provisioned-concurrent-executions 1

step "clean up"
lam delete-event-source-mapping --uuid "$UUID" >/dev/null
lam delete-alias --function-name "$FN" --name live
lam delete-function --function-name "$FN"
expect_error ResourceNotFoundException lam get-function --function-name "$FN:1"

echo "OK: AWS CLI versions and aliases passed against $ENDPOINT"
