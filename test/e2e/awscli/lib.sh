# Shared by the AWS CLI scripts in this folder (sourced, not run): the environment that makes
# the AWS CLI sign with the key kafkaesm serve generated, a scratch directory $WORK, and the
# helpers the scripts use.
# Needs: ENDPOINT (the kafkaesm API) and CREDENTIALS (the credentials file serve wrote).

: "${ENDPOINT:?set ENDPOINT to the kafkaesm API, e.g. http://127.0.0.1:9001}"
: "${CREDENTIALS:?set CREDENTIALS to the credentials file kafkaesm serve wrote, e.g. ./kafkaesm-data/credentials}"
# The AWS CLI signs with the key serve generated, as the README shows.
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN
export AWS_SHARED_CREDENTIALS_FILE="$CREDENTIALS" AWS_PROFILE=kafkaesm AWS_DEFAULT_REGION=us-east-1
export AWS_CONFIG_FILE=/nonexistent AWS_PAGER=""
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

step() { echo "--- $*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
lam() { aws lambda --endpoint-url "$ENDPOINT" --output json "$@"; }
sm() { aws secretsmanager --endpoint-url "$ENDPOINT" --output json "$@"; }

# check FILE PYTHON_EXPR: the expression, with d = the JSON in FILE, must be true.
check() {
	python3 - "$1" "$2" <<'PY' || fail "$2 (in $1: $(head -c 2000 "$1"))"
import json, sys
d = json.load(open(sys.argv[1]))
sys.exit(0 if eval(sys.argv[2]) else 1)
PY
}

# expect_error CODE CMD...: the command must fail with the AWS error code CODE.
expect_error() {
	local code=$1
	shift
	if "$@" >"$WORK/out" 2>"$WORK/err"; then
		fail "expected $code from: $*"
	fi
	grep -q "($code)" "$WORK/err" || fail "expected $code, got: $(cat "$WORK/err")"
}
