package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/spf13/cobra"

	"github.com/kafkaesm/kafkaesm/internal/function"
)

const defaultRole = "arn:aws:iam::000000000000:role/kafkaesm"

func newFunctionsCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "functions",
		Aliases: []string{"function", "fn"},
		Short:   "Manage and invoke functions on a running server",
	}
	cmd.AddCommand(newFunctionsListCmd(g), newFunctionsGetCmd(g), newFunctionsCreateCmd(g),
		newFunctionsDeleteCmd(g), newFunctionsInvokeCmd(g),
		newFunctionsPublishCmd(g), newFunctionsVersionsCmd(g), newFunctionsAliasCmd(g))
	return cmd
}

func newFunctionsListCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List functions",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			all, err := listAll(func(marker *string) ([]json.RawMessage, *string, error) {
				out, err := c.ListFunctions(cmd.Context(), &lambda.ListFunctionsInput{Marker: marker})
				if err != nil {
					return nil, nil, cliError(g.endpoint, err)
				}
				var page struct{ Functions []json.RawMessage }
				err = c.decodeLast(&page)
				return page.Functions, out.NextMarker, err
			})
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if g.json() {
				return printJSON(w, map[string]any{"Functions": all})
			}
			t := newTable(w, "NAME", "RUNTIME", "HANDLER", "TIMEOUT", "CODE SIZE", "LAST MODIFIED")
			for _, raw := range all {
				var f function.Function
				if err := json.Unmarshal(raw, &f); err != nil {
					return err
				}
				rt, size := f.Runtime, strconv.FormatInt(f.CodeSize, 10)
				if f.HTTPTarget != nil {
					rt, size = "http "+f.HTTPTarget.URL, "-"
				}
				t.row(f.FunctionName, rt, f.Handler, strconv.Itoa(f.Timeout)+"s", size, f.LastModified)
			}
			return t.flush()
		},
	}
}

func newFunctionsGetCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "get NAME",
		Short: "Show one function's configuration",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, err := callAPI(cmd, g, func(ctx context.Context, c *apiClient) (*lambda.GetFunctionOutput, error) {
				return c.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String(args[0])})
			})
			if err != nil {
				return err
			}
			return printLast(cmd.OutOrStdout(), g, c, func(w io.Writer, out *struct {
				Configuration function.Function
				Concurrency   *struct{ ReservedConcurrentExecutions *int }
			}) error {
				return printFunction(w, &out.Configuration, out.Concurrency)
			})
		},
	}
}

func printFunction(w io.Writer, f *function.Function, conc *struct{ ReservedConcurrentExecutions *int }) error {
	target, concurrency, env := "-", "unreserved", []string{}
	if f.HTTPTarget != nil {
		target = f.HTTPTarget.URL
	}
	if conc != nil && conc.ReservedConcurrentExecutions != nil {
		concurrency = strconv.Itoa(*conc.ReservedConcurrentExecutions)
	}
	if f.Environment != nil {
		for k, v := range f.Environment.Variables {
			env = append(env, k+"="+v)
		}
	}
	return keyValues(w,
		"Name", f.FunctionName,
		"ARN", f.FunctionArn,
		"Runtime", f.Runtime,
		"Handler", f.Handler,
		"HTTP target", target,
		"Timeout (s)", strconv.Itoa(f.Timeout),
		"Memory (MB)", strconv.Itoa(f.MemorySize),
		"Code size", strconv.FormatInt(f.CodeSize, 10),
		"Code SHA-256", f.CodeSha256,
		"Environment", strings.Join(env, " "),
		"Reserved concurrency", concurrency,
		"Last modified", f.LastModified,
	)
}

func newFunctionsCreateCmd(g *globals) *cobra.Command {
	var (
		code, runtime, handler, role, desc, httpURL string
		timeout, memory                             int32
		env                                         []string
	)
	cmd := &cobra.Command{
		Use:   "create NAME (--code ZIP|DIR|EXECUTABLE | --http-url URL)",
		Short: "Register a function: code run through the Lambda Runtime API, or an HTTP endpoint",
		Example: `  kafkaesm functions create my-fn --code ./bootstrap            # an executable, zipped as bootstrap
  kafkaesm functions create my-fn --code ./build/                # a directory with a bootstrap file
  kafkaesm functions create my-py --code fn.zip --runtime python3.12 --handler app.handler
  kafkaesm functions create orders --http-url http://orders.internal:8080/events --timeout 30`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if (code == "") == (httpURL == "") {
				return errors.New("give exactly one of --code and --http-url")
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			in := &lambda.CreateFunctionInput{
				FunctionName: aws.String(args[0]),
				Role:         aws.String(role),
				Timeout:      aws.Int32(timeout),
				MemorySize:   aws.Int32(memory),
				Code:         &types.FunctionCode{},
			}
			if desc != "" {
				in.Description = aws.String(desc)
			}
			if len(env) > 0 {
				vars := map[string]string{}
				for _, kv := range env {
					k, v, ok := strings.Cut(kv, "=")
					if !ok {
						return fmt.Errorf("--env %q: want KEY=VALUE", kv)
					}
					vars[k] = v
				}
				in.Environment = &types.Environment{Variables: vars}
			}
			var opts []func(*lambda.Options)
			if code != "" {
				zip, err := codeZip(code)
				if err != nil {
					return fmt.Errorf("--code: %w", err)
				}
				in.Code.ZipFile = zip
				in.Runtime = types.Runtime(runtime)
				in.Handler = aws.String(handler)
			} else {
				opts = append(opts, withHTTPTarget(httpURL))
			}
			if _, err := c.CreateFunction(cmd.Context(), in, opts...); err != nil {
				return cliError(g.endpoint, err)
			}
			return printLast(cmd.OutOrStdout(), g, c, func(w io.Writer, f *function.Function) error {
				return printFunction(w, f, nil)
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&code, "code", "", "a zip, a directory to zip, or one executable (zipped as bootstrap)")
	f.StringVar(&httpURL, "http-url", "", "make the function an existing HTTP endpoint (KafkaesmHttpTarget)")
	f.StringVar(&runtime, "runtime", "provided.al2023", "provided, provided.al2, provided.al2023 or python3.x")
	f.StringVar(&handler, "handler", "bootstrap", "handler (module.function for Python)")
	f.StringVar(&role, "role", defaultRole, "execution role ARN (stored, not checked)")
	f.StringVar(&desc, "description", "", "description")
	f.Int32Var(&timeout, "timeout", 3, "timeout in seconds, 1-900")
	f.Int32Var(&memory, "memory", 128, "memory size in MB, 128-10240")
	f.StringArrayVar(&env, "env", nil, "environment variable KEY=VALUE, repeatable")
	return cmd
}

// withHTTPTarget sends the kafkaesm extension member KafkaesmHttpTarget, which the SDK does not
// know, by adding it to the serialized CreateFunction body (and dropping the empty Code the
// SDK's validation insists on). It runs before signing, so SigV4 covers the final body.
func withHTTPTarget(url string) func(*lambda.Options) {
	mw := middleware.SerializeMiddlewareFunc("KafkaesmHttpTarget", func(ctx context.Context, in middleware.SerializeInput, next middleware.SerializeHandler) (middleware.SerializeOutput, middleware.Metadata, error) {
		req, ok := in.Request.(*smithyhttp.Request)
		if !ok {
			return next.HandleSerialize(ctx, in)
		}
		var body map[string]any
		if s := req.GetStream(); s != nil {
			b, err := io.ReadAll(s)
			if err != nil {
				return middleware.SerializeOutput{}, middleware.Metadata{}, err
			}
			if err := json.Unmarshal(b, &body); err != nil {
				return middleware.SerializeOutput{}, middleware.Metadata{}, err
			}
		}
		if body == nil {
			body = map[string]any{}
		}
		delete(body, "Code")
		body["KafkaesmHttpTarget"] = map[string]string{"Url": url}
		b, err := json.Marshal(body)
		if err != nil {
			return middleware.SerializeOutput{}, middleware.Metadata{}, err
		}
		if req, err = req.SetStream(bytes.NewReader(b)); err != nil {
			return middleware.SerializeOutput{}, middleware.Metadata{}, err
		}
		req.ContentLength = int64(len(b))
		in.Request = req
		return next.HandleSerialize(ctx, in)
	})
	return func(o *lambda.Options) {
		o.APIOptions = append(o.APIOptions, func(s *middleware.Stack) error {
			return s.Serialize.Add(mw, middleware.After)
		})
	}
}

func newFunctionsDeleteCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a function",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, _, err := callAPI(cmd, g, func(ctx context.Context, c *apiClient) (*lambda.DeleteFunctionOutput, error) {
				return c.DeleteFunction(ctx, &lambda.DeleteFunctionInput{FunctionName: aws.String(args[0])})
			})
			if err != nil {
				return err
			}
			if g.json() {
				return printJSON(cmd.OutOrStdout(), map[string]string{"FunctionName": args[0], "Deleted": "true"})
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "function %s deleted\n", args[0])
			return err
		},
	}
}

func newFunctionsInvokeCmd(g *globals) *cobra.Command {
	var payload string
	var async bool
	cmd := &cobra.Command{
		Use:   "invoke NAME [--payload JSON | --payload -]",
		Short: "Invoke a function; prints its result, and the tail of its log on stderr",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			body := []byte(payload)
			if payload == "-" {
				if body, err = io.ReadAll(cmd.InOrStdin()); err != nil {
					return err
				}
			}
			in := &lambda.InvokeInput{FunctionName: aws.String(args[0]), Payload: body, LogType: types.LogTypeTail}
			if async {
				in.InvocationType, in.LogType = types.InvocationTypeEvent, types.LogTypeNone
			}
			out, err := c.Invoke(cmd.Context(), in)
			if err != nil {
				return cliError(g.endpoint, err)
			}
			var logText []byte
			if out.LogResult != nil {
				logText, _ = base64.StdEncoding.DecodeString(*out.LogResult)
			}
			w := cmd.OutOrStdout()
			if g.json() {
				var p any = string(out.Payload)
				if json.Valid(out.Payload) {
					p = json.RawMessage(out.Payload)
				}
				res := map[string]any{"StatusCode": out.StatusCode, "ExecutedVersion": aws.ToString(out.ExecutedVersion),
					"Log": string(logText), "Payload": p}
				if out.FunctionError != nil {
					res["FunctionError"] = *out.FunctionError
				}
				if err := printJSON(w, res); err != nil {
					return err
				}
			} else {
				if len(logText) > 0 {
					fmt.Fprintf(cmd.ErrOrStderr(), "%s\n", bytes.TrimRight(logText, "\n"))
				}
				if async {
					_, err = fmt.Fprintf(w, "queued (status %d)\n", out.StatusCode)
					return err
				}
				if _, err := fmt.Fprintf(w, "%s\n", bytes.TrimRight(out.Payload, "\n")); err != nil {
					return err
				}
			}
			if out.FunctionError != nil {
				return fmt.Errorf("function error (%s)", *out.FunctionError)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&payload, "payload", "p", "{}", "the event as JSON; - reads it from stdin")
	cmd.Flags().BoolVar(&async, "async", false, "invoke asynchronously (InvocationType Event)")
	return cmd
}
