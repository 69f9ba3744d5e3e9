package main

import (
	"bufio"
	"context"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// serverLags reads kafkaesm_OffsetLag from the server's /metrics: the lag its pollers see, for
// every mapping that runs there, whatever credentials the mapping's cluster needs (status
// cannot read a SASL or TLS cluster itself: the secrets stay on the server). A server that
// does not answer, or answers otherwise than 200, gives no lags.
func serverLags(ctx context.Context, endpoint string, timeout time.Duration) map[string]int64 {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(endpoint, "/")+"/metrics", nil)
	if err != nil {
		return nil
	}
	resp, err := http.DefaultClient.Do(req)
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
