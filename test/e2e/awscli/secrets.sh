#!/usr/bin/env bash
# The Secrets Manager subset through the AWS CLI: what a user does to store Kafka credentials.
# Usage: ENDPOINT=http://127.0.0.1:9001 CREDENTIALS=<data-dir>/credentials test/e2e/awscli/secrets.sh
# Needs: aws (v1 or v2), python3. Talks only to $ENDPOINT.
set -euo pipefail

# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

NAME="kafka-cli-$$"

echo "--- create-secret"
sm create-secret --name "$NAME" --secret-string '{"username":"alice","password":"alice-secret"}' >"$WORK/c.json"
check "$WORK/c.json" "d['Name'] == '$NAME' and d['ARN'].startswith('arn:aws:secretsmanager:us-east-1:000000000000:secret:$NAME-') and len(d['VersionId']) >= 32"
ARN=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["ARN"])' "$WORK/c.json")

echo "--- get-secret-value by name and by ARN"
sm get-secret-value --secret-id "$NAME" >"$WORK/g.json"
check "$WORK/g.json" "json.loads(d['SecretString']) == {'username':'alice','password':'alice-secret'} and 'AWSCURRENT' in d['VersionStages']"
sm get-secret-value --secret-id "$ARN" >"$WORK/g2.json"
check "$WORK/g2.json" "d['ARN'] == '$ARN'"

echo "--- describe-secret never shows the value"
sm describe-secret --secret-id "$NAME" >"$WORK/d.json"
check "$WORK/d.json" "'SecretString' not in d and d['Name'] == '$NAME'"
grep -q alice-secret "$WORK/d.json" && fail "describe-secret leaked the value"

echo "--- put-secret-value rotates the current version"
sm put-secret-value --secret-id "$NAME" --secret-string '{"username":"alice","password":"new-secret"}' >"$WORK/p.json"
sm get-secret-value --secret-id "$NAME" >"$WORK/g3.json"
check "$WORK/g3.json" "json.loads(d['SecretString'])['password'] == 'new-secret'"

echo "--- list-secrets"
sm list-secrets >"$WORK/l.json"
check "$WORK/l.json" "any(s['Name'] == '$NAME' for s in d['SecretList']) and all('SecretString' not in s for s in d['SecretList'])"

echo "--- errors"
if sm get-secret-value --secret-id "no-such-$NAME" >"$WORK/out" 2>"$WORK/err"; then fail "expected ResourceNotFoundException"; fi
grep -q "(ResourceNotFoundException)" "$WORK/err" || fail "got: $(cat "$WORK/err")"
if sm create-secret --name "$NAME" --secret-string x >"$WORK/out" 2>"$WORK/err"; then fail "expected ResourceExistsException"; fi
grep -q "(ResourceExistsException)" "$WORK/err" || fail "got: $(cat "$WORK/err")"

echo "--- delete-secret"
sm delete-secret --secret-id "$NAME" --force-delete-without-recovery >"$WORK/del.json"
check "$WORK/del.json" "d['Name'] == '$NAME'"
if sm get-secret-value --secret-id "$NAME" >"$WORK/out" 2>"$WORK/err"; then fail "deleted secret still readable"; fi

echo "OK: AWS CLI secrets passed"
