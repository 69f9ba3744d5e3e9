package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/smithy-go"
	"github.com/spf13/cobra"

	"github.com/kafkaesm/kafkaesm/internal/arn"
	"github.com/kafkaesm/kafkaesm/internal/iam"
	"github.com/kafkaesm/kafkaesm/internal/server"
)

// The CLI talks to a running server through aws-sdk-go-v2's Lambda client, so every command
// also proves that the API works for an unchanged AWS SDK. Only the kafkaesm extension member
// KafkaesmHttpTarget is added to a request body by hand (see withBodyMember).

const defaultEndpoint = "http://127.0.0.1:9001"

// globals are the root command's persistent flags.
type globals struct {
	endpoint    string
	output      string // table | json
	credentials string // AWS shared-credentials file with a [kafkaesm] profile
}

func (g *globals) addFlags(cmd *cobra.Command) {
	def := defaultEndpoint
	if e := os.Getenv("KAFKAESM_ENDPOINT"); e != "" {
		def = e
	}
	f := cmd.PersistentFlags()
	f.StringVar(&g.endpoint, "endpoint", def, "kafkaesm API endpoint (env KAFKAESM_ENDPOINT)")
	f.StringVarP(&g.output, "output", "o", "table", "output format: table or json")
	f.StringVar(&g.credentials, "credentials", os.Getenv("KAFKAESM_CREDENTIALS_FILE"),
		"credentials file written by serve (profile [kafkaesm]; env KAFKAESM_CREDENTIALS_FILE); default ./kafkaesm-data/credentials when it exists")
}

func (g *globals) validate() error {
	switch g.output {
	case "table", "json":
	default:
		return fmt.Errorf("--output must be table or json, got %q", g.output)
	}
	if !strings.HasPrefix(g.endpoint, "http://") && !strings.HasPrefix(g.endpoint, "https://") {
		return fmt.Errorf("--endpoint must be an http:// or https:// URL, got %q", g.endpoint)
	}
	return nil
}

func (g *globals) json() bool { return g.output == "json" }

// apiClient is the SDK client plus the raw body of the last response, so that `-o json`
// prints exactly what the server sent.
type apiClient struct {
	*lambda.Client
	rec *recorder
}

func (g *globals) client() (*apiClient, error) {
	if err := g.validate(); err != nil {
		return nil, err
	}
	rec := &recorder{next: &http.Client{Timeout: 5 * time.Minute}}
	key, secret, err := g.signingKey()
	if err != nil {
		return nil, err
	}
	c := lambda.New(lambda.Options{
		Region:           signingRegion(),
		BaseEndpoint:     aws.String(strings.TrimRight(g.endpoint, "/")),
		Credentials:      credentials.NewStaticCredentialsProvider(key, secret, os.Getenv("AWS_SESSION_TOKEN")),
		HTTPClient:       rec,
		RetryMaxAttempts: 2,
	})
	return &apiClient{Client: c, rec: rec}, nil
}

// defaultCredentialsFile is where `kafkaesm serve` with its default --data-dir writes its key.
const defaultCredentialsFile = "kafkaesm-data/" + server.CredentialsFileName

// signingKey picks the credentials the CLI signs with, most specific first:
// KAFKAESM_ACCESS_KEY_ID/KAFKAESM_SECRET_ACCESS_KEY (what serve reads); --credentials
// (KAFKAESM_CREDENTIALS_FILE); ./kafkaesm-data/credentials when it exists (serve's default
// data directory); the AWS SDK's AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY; otherwise
// placeholders, which a server without authentication (kafkaesm dev) accepts.
func (g *globals) signingKey() (key, secret string, err error) {
	if key, secret = os.Getenv("KAFKAESM_ACCESS_KEY_ID"), os.Getenv("KAFKAESM_SECRET_ACCESS_KEY"); key != "" && secret != "" {
		return key, secret, nil
	}
	file := g.credentials
	if file == "" {
		if _, err := os.Stat(defaultCredentialsFile); err == nil {
			// Found, not named: it must be one serve wrote for this user (its own, 0600), not
			// one another user or a checked-out repository put in the current directory,
			// which would otherwise sign this user's requests as someone else.
			if err := iam.CheckPrivate(defaultCredentialsFile); err != nil {
				return "", "", fmt.Errorf("not signing with ./%s: %v; or name it with --credentials", defaultCredentialsFile, err)
			}
			file = defaultCredentialsFile
		}
	}
	if file != "" {
		p, err := iam.Profile(file, server.CredentialsProfile)
		if err != nil {
			return "", "", fmt.Errorf("--credentials: %w", err)
		}
		return p.AccessKeyID, p.SecretAccessKey, nil
	}
	if key, secret = os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY"); key != "" && secret != "" {
		return key, secret, nil
	}
	return "kafkaesm", "kafkaesm", nil
}

// signingRegion is the region the CLI signs with: AWS_REGION, AWS_DEFAULT_REGION, else
// arn.DefaultRegion.
func signingRegion() string {
	if region := firstEnv("AWS_REGION", "AWS_DEFAULT_REGION"); region != "" {
		return region
	}
	return arn.DefaultRegion
}

func firstEnv(names ...string) string {
	for _, n := range names {
		if v := os.Getenv(n); v != "" {
			return v
		}
	}
	return ""
}

// recorder keeps the body of the last response it passed on.
type recorder struct {
	next *http.Client
	mu   sync.Mutex
	last []byte
}

func (r *recorder) Do(req *http.Request) (*http.Response, error) {
	resp, err := r.next.Do(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.last = body
	r.mu.Unlock()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}

// lastBody is the raw body of the last response.
func (c *apiClient) lastBody() []byte {
	c.rec.mu.Lock()
	defer c.rec.mu.Unlock()
	return c.rec.last
}

// printRaw writes the last response body as indented JSON.
func (c *apiClient) printRaw(w io.Writer) error {
	return printJSON(w, json.RawMessage(c.lastBody()))
}

func printJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// cliError turns an SDK error into one line: the AWS error name and its message, as the
// server sent them, or what went wrong reaching the server.
func cliError(endpoint string, err error) error {
	if err == nil {
		return nil
	}
	if ae, ok := errors.AsType[smithy.APIError](err); ok {
		return fmt.Errorf("%s: %s", ae.ErrorCode(), ae.ErrorMessage())
	}
	if _, ok := errors.AsType[net.Error](err); ok {
		return fmt.Errorf("cannot reach the kafkaesm server at %s (is `kafkaesm serve` or `kafkaesm dev` running? --endpoint / KAFKAESM_ENDPOINT): %v", endpoint, rootCause(err))
	}
	if errors.Is(err, context.Canceled) {
		return errors.New("interrupted")
	}
	return err
}

func rootCause(err error) error {
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return err
		}
		err = u
	}
}

// callAPI builds a client and makes one SDK call with it, so that each command states only its
// call; the call's error comes back in cliError's words.
func callAPI[O any](cmd *cobra.Command, g *globals, call func(context.Context, *apiClient) (O, error)) (*apiClient, O, error) {
	var zero O
	c, err := g.client()
	if err != nil {
		return nil, zero, err
	}
	out, err := call(cmd.Context(), c)
	if err != nil {
		return nil, zero, cliError(g.endpoint, err)
	}
	return c, out, nil
}

// printLast prints the last response body: as the server sent it with -o json, otherwise
// decoded into a T and shown by table.
func printLast[T any](w io.Writer, g *globals, c *apiClient, table func(io.Writer, *T) error) error {
	if g.json() {
		return c.printRaw(w)
	}
	var v T
	if err := c.decodeLast(&v); err != nil {
		return err
	}
	return table(w, &v)
}

// decodeLast decodes the last response body into v.
func (c *apiClient) decodeLast(v any) error {
	if err := json.Unmarshal(c.lastBody(), v); err != nil {
		return fmt.Errorf("decoding the server's answer: %w", err)
	}
	return nil
}

// listAll pages through a List call: page sends one request with marker (nil first) and
// returns that page's items and its NextMarker; listAll stops at the first empty NextMarker
// and returns every page's items (never nil).
func listAll[T any](page func(marker *string) (items []T, next *string, err error)) ([]T, error) {
	all := []T{}
	var marker *string
	for {
		items, next, err := page(marker)
		if err != nil {
			return nil, err
		}
		all = append(all, items...)
		if aws.ToString(next) == "" {
			return all, nil
		}
		marker = next
	}
}
