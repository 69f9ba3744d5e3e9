// Package arn holds the region and account a kafkaesm node puts into ARNs when none is
// configured. It is a leaf package so that the node, the Lambda API, the Secrets Manager API, the
// function engine and the CLI can share one default without importing one another.
package arn

const (
	// DefaultRegion is the region of ARNs and of SigV4 credential scopes when none is set.
	DefaultRegion = "us-east-1"
	// DefaultAccountID is the account of ARNs when none is set.
	DefaultAccountID = "000000000000"
)
