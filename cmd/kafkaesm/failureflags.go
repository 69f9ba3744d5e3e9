package main

import (
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/spf13/cobra"
)

// failureFlags are the failure-handling members of mappings create and update
// (docs/failure-handling.md).
type failureFlags struct {
	retries, maxAge int32
	bisect, partial bool
	destination     string
	filters         []string
	clearFilters    bool
}

func (ff *failureFlags) add(cmd *cobra.Command, update bool) {
	f := cmd.Flags()
	def := int32(-1) // the members' own default, shown by create; update shows none (only given flags change)
	if update {
		def = 0
	}
	f.Int32Var(&ff.retries, "retries", def, "MaximumRetryAttempts: retries of a failing batch, -1 (until it succeeds; 10 with a destination) or 0-10000")
	f.Int32Var(&ff.maxAge, "max-record-age", def, "MaximumRecordAgeInSeconds: records older are not invoked, -1 or 60-604800")
	f.BoolVar(&ff.bisect, "bisect", false, "BisectBatchOnFunctionError: split a failing batch in two")
	f.BoolVar(&ff.partial, "report-batch-item-failures", false, `FunctionResponseTypes ReportBatchItemFailures: the function answers {"batchItemFailures":[…]}`)
	f.StringVar(&ff.destination, "on-failure", "", `on-failure destination kafka://TOPIC ("" removes it on update)`)
	f.StringArrayVar(&ff.filters, "filter", nil, `FilterCriteria pattern, repeatable (e.g. '{"value":{"kind":["order"]}}')`)
	if update {
		f.BoolVar(&ff.clearFilters, "clear-filters", false, "remove every FilterCriteria pattern")
	}
}

type failureMembers struct {
	retries, maxAge *int32
	bisect          *bool
	responseTypes   []types.FunctionResponseType
	destination     *types.DestinationConfig
	filters         *types.FilterCriteria
}

func (ff *failureFlags) members(cmd *cobra.Command) failureMembers {
	var m failureMembers
	changed := cmd.Flags().Changed
	if changed("retries") {
		m.retries = aws.Int32(ff.retries)
	}
	if changed("max-record-age") {
		m.maxAge = aws.Int32(ff.maxAge)
	}
	if changed("bisect") {
		m.bisect = aws.Bool(ff.bisect)
	}
	if changed("report-batch-item-failures") {
		m.responseTypes = []types.FunctionResponseType{}
		if ff.partial {
			m.responseTypes = append(m.responseTypes, types.FunctionResponseTypeReportBatchItemFailures)
		}
	}
	if changed("on-failure") {
		m.destination = &types.DestinationConfig{OnFailure: &types.OnFailure{Destination: aws.String(ff.destination)}}
	}
	if len(ff.filters) > 0 || ff.clearFilters {
		m.filters = &types.FilterCriteria{Filters: []types.Filter{}}
		for _, p := range ff.filters {
			m.filters.Filters = append(m.filters.Filters, types.Filter{Pattern: aws.String(p)})
		}
	}
	return m
}

func (ff *failureFlags) create(cmd *cobra.Command, in *lambda.CreateEventSourceMappingInput) {
	m := ff.members(cmd)
	in.MaximumRetryAttempts, in.MaximumRecordAgeInSeconds, in.BisectBatchOnFunctionError = m.retries, m.maxAge, m.bisect
	in.FunctionResponseTypes, in.DestinationConfig, in.FilterCriteria = m.responseTypes, m.destination, m.filters
}

func (ff *failureFlags) update(cmd *cobra.Command, in *lambda.UpdateEventSourceMappingInput) {
	m := ff.members(cmd)
	in.MaximumRetryAttempts, in.MaximumRecordAgeInSeconds, in.BisectBatchOnFunctionError = m.retries, m.maxAge, m.bisect
	in.FunctionResponseTypes, in.DestinationConfig, in.FilterCriteria = m.responseTypes, m.destination, m.filters
}
