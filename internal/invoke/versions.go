package invoke

import (
	"github.com/kafkaesm/kafkaesm/internal/function"
)

// poolKey names one version's environments: warm environments are kept per version, so an
// alias moving between versions, or splitting invocations between two, never hands one
// version's invocation to another version's process.
type poolKey struct {
	name    string
	version string // "$LATEST", "1", …
}

// versionOf is the version fn runs as (X-Amz-Executed-Version, AWS_LAMBDA_FUNCTION_VERSION).
func versionOf(fn *function.Function) string {
	if fn.Version == "" {
		return function.Latest
	}
	return fn.Version
}

// invokedArn is the ARN the invocation named (Lambda-Runtime-Invoked-Function-Arn, the
// context's invoked_function_arn): qualified with the alias or version the caller used.
func invokedArn(region, account, name string, req Request) string {
	_, q, err := Qualify(req.Function, req.Qualifier)
	if err != nil {
		q = ""
	}
	return function.QualifiedArn(function.Arn(region, account, name), q)
}
