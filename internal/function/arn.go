package function

import "strings"

// UnqualifiedArn strips a version or alias qualifier from a function ARN
// (arn:aws:lambda:REGION:ACCT:function:NAME[:QUALIFIER]). Other strings are returned unchanged.
func UnqualifiedArn(arn string) string {
	parts := strings.Split(arn, ":")
	if len(parts) == 8 && parts[5] == "function" {
		return strings.Join(parts[:7], ":")
	}
	return arn
}

// Arn is the unqualified ARN of function name.
func Arn(region, account, name string) string {
	return "arn:aws:lambda:" + region + ":" + account + ":function:" + name
}
