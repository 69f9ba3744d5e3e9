package main

import (
	"bufio"
	"context"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// emptySHA256 is the SigV4 payload hash of a request without a body.
const emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// serverLags reads kafkaesm_OffsetLag from the server's /metrics: the lag its pollers see, for
// every mapping that runs there, whatever credentials the mapping's cluster needs (status
// cannot read a SASL or TLS cluster itself: the secrets stay on the server). A server that
// does not answer, or answers otherwise than 200, gives no lags.
func serverLags(ctx context.Context, g *globals, timeout time.Duration) map[string]int64 {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	resp, err := signedGet(ctx, g, "/metrics")
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil
	}
	lags := map[string]int64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		if uuid, v, ok := parseLagLine(sc.Text()); ok {
			lags[uuid] = v
		}
	}
	return lags
}

// signedGet GETs path on the server, signed as the CLI's API calls are (serve keeps /metrics
// behind authentication unless it has --metrics-listen).
func signedGet(ctx context.Context, g *globals, path string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(g.endpoint, "/")+path, nil)
	if err != nil {
		return nil, err
	}
	key, secret, err := g.signingKey()
	if err != nil {
		return nil, err
	}
	creds := aws.Credentials{AccessKeyID: key, SecretAccessKey: secret, SessionToken: os.Getenv("AWS_SESSION_TOKEN")}
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, emptySHA256, "lambda", signingRegion(), time.Now()); err != nil {
		return nil, err
	}
	return http.DefaultClient.Do(req)
}

var uuidLabel = regexp.MustCompile(`[{,]event_source_mapping_uuid="([^"]*)"`)

// parseLagLine reads one `kafkaesm_OffsetLag{…event_source_mapping_uuid="U"…} 15` line.
func parseLagLine(line string) (string, int64, bool) {
	rest, ok := strings.CutPrefix(line, "kafkaesm_OffsetLag{")
	if !ok {
		return "", 0, false
	}
	labels, value, ok := strings.Cut(rest, "} ")
	if !ok {
		return "", 0, false
	}
	m := uuidLabel.FindStringSubmatch("{" + labels)
	if m == nil {
		return "", 0, false
	}
	value, _, _ = strings.Cut(strings.TrimSpace(value), " ") // a timestamp may follow
	f, err := strconv.ParseFloat(value, 64)
	if err != nil {
		return "", 0, false
	}
	return m[1], int64(f), true
}
