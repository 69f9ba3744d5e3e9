package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/spf13/cobra"

	"github.com/kafkaesm/kafkaesm/internal/function"
)

// `functions publish`, `functions versions` and `functions alias …`: Lambda's PublishVersion,
// ListVersionsByFunction and alias operations.

func newFunctionsPublishCmd(g *globals) *cobra.Command {
	var desc, sha, rev string
	cmd := &cobra.Command{
		Use:   "publish NAME [--description TEXT] [--code-sha256 SHA] [--revision-id ID]",
		Short: "Publish $LATEST as a new numbered version (nothing new when nothing changed)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			in := &lambda.PublishVersionInput{FunctionName: aws.String(args[0])}
			if desc != "" {
				in.Description = aws.String(desc)
			}
			if sha != "" {
				in.CodeSha256 = aws.String(sha)
			}
			if rev != "" {
				in.RevisionId = aws.String(rev)
			}
			c, _, err := callAPI(cmd, g, func(ctx context.Context, c *apiClient) (*lambda.PublishVersionOutput, error) {
				return c.PublishVersion(ctx, in)
			})
			if err != nil {
				return err
			}
			return printLast(cmd.OutOrStdout(), g, c, func(w io.Writer, f *function.Function) error {
				_, err := fmt.Fprintf(w, "version %s of %s (%s)\n", f.Version, f.FunctionName, f.FunctionArn)
				return err
			})
		},
	}
	cmd.Flags().StringVar(&desc, "description", "", "the version's description (default: the function's)")
	cmd.Flags().StringVar(&sha, "code-sha256", "", "publish only if $LATEST's CodeSha256 is this")
	cmd.Flags().StringVar(&rev, "revision-id", "", "publish only if $LATEST's RevisionId is this")
	return cmd
}

func newFunctionsVersionsCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "versions NAME",
		Short: "List a function's versions ($LATEST first)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			all, err := listAll(func(marker *string) ([]json.RawMessage, *string, error) {
				out, err := c.ListVersionsByFunction(cmd.Context(), &lambda.ListVersionsByFunctionInput{FunctionName: aws.String(args[0]), Marker: marker})
				if err != nil {
					return nil, nil, cliError(g.endpoint, err)
				}
				var page struct{ Versions []json.RawMessage }
				err = c.decodeLast(&page)
				return page.Versions, out.NextMarker, err
			})
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if g.json() {
				return printJSON(w, map[string]any{"Versions": all})
			}
			t := newTable(w, "VERSION", "CODE SHA-256", "DESCRIPTION", "LAST MODIFIED")
			for _, raw := range all {
				var f function.Function
				if err := json.Unmarshal(raw, &f); err != nil {
					return err
				}
				t.row(f.Version, f.CodeSha256, f.Description, f.LastModified)
			}
			return t.flush()
		},
	}
}

func newFunctionsAliasCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "alias",
		Short: "Manage a function's aliases (create, update, get, list, delete)",
	}
	cmd.AddCommand(newAliasSetCmd(g, true), newAliasSetCmd(g, false), newAliasGetCmd(g), newAliasListCmd(g), newAliasDeleteCmd(g))
	return cmd
}

// parseWeight parses --weight VERSION=WEIGHT ("" clears the routing configuration).
func parseWeight(s string) (*types.AliasRoutingConfiguration, error) {
	if s == "" {
		return &types.AliasRoutingConfiguration{AdditionalVersionWeights: map[string]float64{}}, nil
	}
	v, w, ok := strings.Cut(s, "=")
	f, err := strconv.ParseFloat(w, 64)
	if !ok || v == "" || err != nil {
		return nil, fmt.Errorf("--weight wants VERSION=WEIGHT (e.g. 2=0.1), got %q", s)
	}
	return &types.AliasRoutingConfiguration{AdditionalVersionWeights: map[string]float64{v: f}}, nil
}

// newAliasSetCmd is `alias create` (create true) or `alias update`.
func newAliasSetCmd(g *globals, create bool) *cobra.Command {
	var version, desc, weight, rev string
	use, short := "update FUNCTION ALIAS [--version N] [--weight N=W | --weight ''] [--description TEXT]", "Point an alias at another version, or change its weighted routing"
	if create {
		use, short = "create FUNCTION ALIAS --version N [--weight N=W] [--description TEXT]", "Create an alias pointing at a version ($LATEST or a number)"
	}
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var rc *types.AliasRoutingConfiguration
			if cmd.Flags().Changed("weight") {
				var err error
				if rc, err = parseWeight(weight); err != nil {
					return err
				}
			}
			opt := func(s string) *string {
				if s == "" {
					return nil
				}
				return aws.String(s)
			}
			c, _, err := callAPI(cmd, g, func(ctx context.Context, c *apiClient) (any, error) {
				if create {
					return c.CreateAlias(ctx, &lambda.CreateAliasInput{FunctionName: aws.String(args[0]), Name: aws.String(args[1]),
						FunctionVersion: aws.String(version), Description: opt(desc), RoutingConfig: rc})
				}
				in := &lambda.UpdateAliasInput{FunctionName: aws.String(args[0]), Name: aws.String(args[1]),
					FunctionVersion: opt(version), RoutingConfig: rc, RevisionId: opt(rev)}
				if cmd.Flags().Changed("description") {
					in.Description = aws.String(desc)
				}
				return c.UpdateAlias(ctx, in)
			})
			if err != nil {
				return err
			}
			return printLast(cmd.OutOrStdout(), g, c, printAlias)
		},
	}
	cmd.Flags().StringVar(&version, "version", "", "the version the alias points at ($LATEST or a number)")
	cmd.Flags().StringVar(&desc, "description", "", "the alias's description")
	cmd.Flags().StringVar(&weight, "weight", "", "VERSION=WEIGHT: send that share (0-1) of invocations to a second version; '' clears it")
	if create {
		_ = cmd.MarkFlagRequired("version")
	} else {
		cmd.Flags().StringVar(&rev, "revision-id", "", "update only if the alias's RevisionId is this")
	}
	return cmd
}

func printAlias(w io.Writer, a *function.Alias) error {
	routing := "-"
	if a.RoutingConfig != nil {
		for v, wt := range a.RoutingConfig.AdditionalVersionWeights {
			routing = fmt.Sprintf("%s of invocations to version %s", strconv.FormatFloat(wt, 'f', -1, 64), v)
		}
	}
	return keyValues(w, "Alias", a.Name, "ARN", a.AliasArn, "Version", a.FunctionVersion,
		"Additional version", routing, "Description", a.Description, "Revision", a.RevisionId)
}

func newAliasGetCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "get FUNCTION ALIAS",
		Short: "Show an alias",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, err := callAPI(cmd, g, func(ctx context.Context, c *apiClient) (*lambda.GetAliasOutput, error) {
				return c.GetAlias(ctx, &lambda.GetAliasInput{FunctionName: aws.String(args[0]), Name: aws.String(args[1])})
			})
			if err != nil {
				return err
			}
			return printLast(cmd.OutOrStdout(), g, c, printAlias)
		},
	}
}

func newAliasListCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "list FUNCTION",
		Short: "List a function's aliases",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			all, err := listAll(func(marker *string) ([]*function.Alias, *string, error) {
				out, err := c.ListAliases(cmd.Context(), &lambda.ListAliasesInput{FunctionName: aws.String(args[0]), Marker: marker})
				if err != nil {
					return nil, nil, cliError(g.endpoint, err)
				}
				var page struct{ Aliases []*function.Alias }
				err = c.decodeLast(&page)
				return page.Aliases, out.NextMarker, err
			})
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if g.json() {
				return printJSON(w, map[string]any{"Aliases": all})
			}
			t := newTable(w, "ALIAS", "VERSION", "ADDITIONAL VERSION", "DESCRIPTION")
			for _, a := range all {
				extra := ""
				if a.RoutingConfig != nil {
					for v, wt := range a.RoutingConfig.AdditionalVersionWeights {
						extra = v + " (" + strconv.FormatFloat(wt, 'f', -1, 64) + ")"
					}
				}
				t.row(a.Name, a.FunctionVersion, extra, a.Description)
			}
			return t.flush()
		},
	}
}

func newAliasDeleteCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "delete FUNCTION ALIAS",
		Short: "Delete an alias (mappings on it then fail with function-not-found)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, _, err := callAPI(cmd, g, func(ctx context.Context, c *apiClient) (*lambda.DeleteAliasOutput, error) {
				return c.DeleteAlias(ctx, &lambda.DeleteAliasInput{FunctionName: aws.String(args[0]), Name: aws.String(args[1])})
			})
			if err != nil {
				return err
			}
			if g.json() {
				return printJSON(cmd.OutOrStdout(), map[string]string{"FunctionName": args[0], "Alias": args[1], "Deleted": "true"})
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "alias %s of %s deleted\n", args[1], args[0])
			return err
		},
	}
}
