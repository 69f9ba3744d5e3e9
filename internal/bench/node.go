package bench

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kafkaesm/kafkaesm/internal/arn"
	"github.com/kafkaesm/kafkaesm/internal/iam"
	"github.com/kafkaesm/kafkaesm/internal/invoke"
	"github.com/kafkaesm/kafkaesm/internal/server"
)

// node is an in-process kafkaesm server plus the HTTP endpoints the benchmark's functions talk
// to: a throughput sink (the HTTP target), a latency sink (the HTTP target of the latency
// phase) and a latency collector (where the Runtime API function reports what it measured).
type node struct {
	cfg    Config
	srv    *server.Server
	key    *iam.Principal // the node's generated credentials
	api    string
	dir    string
	cancel context.CancelFunc
	done   chan error

	sinkSrv *http.Server
	sinkLn  net.Listener
	sinkWG  sync.WaitGroup
	sinkURL string
	latURL  string
	repURL  string
	lat     *latencySink
}

func startNode(ctx context.Context, cfg Config) (*node, error) {
	dir, err := os.MkdirTemp("", "kafkaesm-bench-")
	if err != nil {
		return nil, err
	}
	srv, err := server.New(server.Config{Listen: "127.0.0.1:0", DataDir: dir, Logger: cfg.Logger, Pollers: true,
		// The bench function is this binary, run from wherever it was built: another uid may not
		// reach it, so functions run as the bench's own user.
		FunctionUIDs: "off"})
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	// The node generated its credentials on start-up; call() signs with them.
	key, err := iam.Profile(srv.CredentialsFile(), server.CredentialsProfile)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := srv.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	runCtx, cancel := context.WithCancel(context.Background())
	n := &node{cfg: cfg, srv: srv, key: key, api: "http://" + srv.Addr(), dir: dir, cancel: cancel, done: make(chan error, 1), lat: &latencySink{}}
	go func() { n.done <- srv.Run(runCtx) }()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		n.close()
		return nil, err
	}
	mux := http.NewServeMux()
	bufs := sync.Pool{New: func() any { return new([256 << 10]byte) }}
	mux.HandleFunc("POST /sink", func(w http.ResponseWriter, r *http.Request) {
		// Read the event as a function would, in large reads (io.Discard's 8 KB reads would
		// make the sink, not kafkaesm, the cost measured).
		buf := bufs.Get().(*[256 << 10]byte)
		for {
			if _, err := r.Body.Read(buf[:]); err != nil {
				break
			}
		}
		bufs.Put(buf)
		_, _ = w.Write([]byte("null"))
	})
	mux.HandleFunc("POST /latency", func(w http.ResponseWriter, r *http.Request) {
		now := time.Now()
		body, err := io.ReadAll(r.Body)
		if err == nil {
			err = n.lat.addPayload(body, now)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		_, _ = w.Write([]byte("null"))
	})
	mux.HandleFunc("POST /report", func(w http.ResponseWriter, r *http.Request) {
		var rep latencyReport
		if err := json.NewDecoder(r.Body).Decode(&rep); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		n.lat.add(rep)
	})
	n.sinkLn = ln
	n.sinkSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	n.sinkWG.Go(func() { _ = n.sinkSrv.Serve(ln) })
	base := "http://" + ln.Addr().String()
	n.sinkURL, n.latURL, n.repURL = base+"/sink", base+"/latency", base+"/report"
	return n, nil
}

func (n *node) close() {
	if n.sinkSrv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = n.sinkSrv.Shutdown(ctx)
		cancel()
		n.sinkWG.Wait()
	}
	n.cancel()
	select {
	case <-n.done:
	case <-time.After(60 * time.Second):
	}
	os.RemoveAll(n.dir)
}

// call sends one API request and decodes the answer into out (when not nil).
func (n *node) call(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, n.api+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if err := n.key.Sign(req, arn.DefaultRegion); err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, b)
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

const benchRole = "arn:aws:iam::000000000000:role/kafkaesm-bench"

// runtimeFunction creates a provided.al2023 function whose bootstrap execs cfg.FunctionCommand.
func (n *node) runtimeFunction(ctx context.Context, name string, env map[string]string) (string, error) {
	var script strings.Builder
	script.WriteString("#!/bin/sh\nexec")
	for _, a := range n.cfg.FunctionCommand {
		script.WriteString(" '" + strings.ReplaceAll(a, "'", `'\''`) + "'")
	}
	script.WriteString("\n")
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	h := &zip.FileHeader{Name: "bootstrap", Method: zip.Deflate}
	h.SetMode(0o755)
	w, err := zw.CreateHeader(h)
	if err == nil {
		_, err = w.Write([]byte(script.String()))
	}
	if err == nil {
		err = zw.Close()
	}
	if err != nil {
		return "", err
	}
	in := map[string]any{
		"FunctionName": name, "Role": benchRole, "Runtime": "provided.al2023", "Handler": "bootstrap",
		"Timeout": 60, "Code": map[string]any{"ZipFile": buf.Bytes()},
	}
	if len(env) > 0 {
		in["Environment"] = map[string]any{"Variables": env}
	}
	return name, n.call(ctx, http.MethodPost, "/2015-03-31/functions", in, nil)
}

// httpFunction creates a function that is the HTTP target url.
func (n *node) httpFunction(ctx context.Context, name, url string) (string, error) {
	in := map[string]any{"FunctionName": name, "Role": benchRole, "Timeout": 60, "KafkaesmHttpTarget": map[string]any{"Url": url}}
	return name, n.call(ctx, http.MethodPost, "/2015-03-31/functions", in, nil)
}

// createMapping creates a self-managed Kafka mapping through the API and returns its UUID.
func (n *node) createMapping(ctx context.Context, fn, topic, position string, batchSize, window int) (string, error) {
	in := map[string]any{
		"FunctionName": fn,
		"Topics":       []string{topic},
		"SelfManagedEventSource": map[string]any{"Endpoints": map[string]any{
			"KAFKA_BOOTSTRAP_SERVERS": strings.Split(n.cfg.Bootstrap, ","),
		}},
		// A plaintext broker needs no credentials; AWS then asks for the VPC entries.
		"SourceAccessConfigurations": []map[string]string{
			{"Type": "VPC_SUBNET", "URI": "subnet:subnet-0123456789abcdef0"},
			{"Type": "VPC_SECURITY_GROUP", "URI": "security_group:sg-0123456789abcdef0"},
		},
		"StartingPosition": position,
		"BatchSize":        batchSize,
	}
	if window >= 0 {
		in["MaximumBatchingWindowInSeconds"] = window
	}
	var out struct{ UUID string }
	if err := n.call(ctx, http.MethodPost, "/2015-03-31/event-source-mappings", in, &out); err != nil {
		return "", err
	}
	return out.UUID, nil
}

func (n *node) deleteMapping(ctx context.Context, uuid string) error {
	return n.call(ctx, http.MethodDelete, "/2015-03-31/event-source-mappings/"+uuid, nil, nil)
}

// mappingDrain drains the topic through a new mapping into fn, timing it with the poller's
// counters (sampled every 5 ms).
func (r *runner) mappingDrain(ctx context.Context, topic, fn string) (Drain, error) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	start := time.Now()
	uuid, err := r.node.createMapping(ctx, fn, topic, "TRIM_HORIZON", r.cfg.BatchSize, r.cfg.Window)
	if err != nil {
		return Drain{}, err
	}
	r.groups = append(r.groups, uuid) // a mapping's group is its UUID
	defer func() {
		dctx, dcancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer dcancel()
		_ = r.node.deleteMapping(dctx, uuid)
	}()
	var invoked atomic.Int64
	stop := r.startProgress("delivered", invoked.Load)
	defer stop()
	n := int64(r.cfg.Records)
	var first time.Time
	var cpu0 cpuTimes
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		st, _ := r.node.srv.MappingStats(uuid)
		invoked.Store(st.Invoked)
		if st.Polled > 0 && first.IsZero() {
			first, cpu0 = time.Now(), readCPU()
		}
		if st.Failed > 0 { // a no-op function never fails: stop instead of retrying for minutes
			return Drain{}, fmt.Errorf("mapping into %s: the function failed (%d records in failed attempts); its log ends:\n%s",
				fn, st.Failed, r.node.logTail(fn))
		}
		if st.Invoked >= n {
			end, cpu1 := time.Now(), readCPU()
			stop()
			d := r.drain(st.Invoked, end.Sub(first), end.Sub(start), cpu0, cpu1)
			d.Invocations = st.Batches
			if st.Batches > 0 {
				d.RecordsPerInvoke = float64(st.Invoked) / float64(st.Batches)
			}
			return d, nil
		}
		select {
		case <-ctx.Done():
			return Drain{}, fmt.Errorf("mapping into %s: %d of %d records delivered (failed attempts %d): %w", fn, st.Invoked, n, st.Failed, ctx.Err())
		case <-tick.C:
		}
	}
}

// logTail is the end of a function's log in the node's data directory.
func (n *node) logTail(fn string) string {
	b, err := os.ReadFile(filepath.Join(invoke.LogDir(n.dir, fn), "function.log"))
	if err != nil {
		return err.Error()
	}
	return string(b[max(0, len(b)-2048):])
}

// coldStarts counts the function's cold starts so far: REPORT lines with an Init Duration.
func (n *node) coldStarts(fn string) int {
	b, err := os.ReadFile(filepath.Join(invoke.LogDir(n.dir, fn), "function.log"))
	if err != nil {
		return 0
	}
	return strings.Count(string(b), "\tInit Duration: ")
}
