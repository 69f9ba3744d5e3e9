package main

import (
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"strings"
	"time"
	"unsafe"

	"github.com/spf13/cobra"

	"github.com/kafkaesm/kafkaesm/internal/api"
	"github.com/kafkaesm/kafkaesm/internal/arn"
	"github.com/kafkaesm/kafkaesm/internal/function"
	"github.com/kafkaesm/kafkaesm/internal/secrets"
	"github.com/kafkaesm/kafkaesm/internal/server"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "kafkaesm",
		Short:         "Lambda's event source mapping for self-managed Apache Kafka, on your own machines",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newServeCmd(), newVersionCmd())
	root.AddCommand(newLogsCmd())
	// --endpoint and -o only where they mean something: not on serve, dev, version or logs.
	g := &globals{}
	for _, c := range []*cobra.Command{newMappingsCmd(g), newFunctionsCmd(g), newStatusCmd(g)} {
		g.addFlags(c)
		root.AddCommand(c)
	}
	produce, bench := newProduceCmd(g), newBenchCmd(g)
	g.addOutputFlag(produce)
	g.addOutputFlag(bench)
	root.AddCommand(produce, bench, newBenchFunctionCmd())
	root.AddCommand(newDevCmd(), newSampleHandlerCmd())
	return root
}

func newServeCmd() *cobra.Command {
	var cfg server.Config
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the kafkaesm server (Lambda-compatible API, pollers, functions)",
		Long:  serveLong,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg.Logger = slog.New(slog.NewJSONHandler(os.Stderr, nil))
			s, err := newServer(cfg)
			if err != nil {
				return err
			}
			return runServer(cmd.Context(), s, cfg.Logger)
		},
	}
	f := cmd.Flags()
	addServeFlags(f, &cfg)
	f.StringVar(&cfg.Listen, "listen", "127.0.0.1:9001", "API listen address")
	f.StringVar(&cfg.DataDir, "data-dir", "./kafkaesm-data", "directory for state, function code and logs (created 0700; one others can read is refused)")
	f.StringVar(&cfg.FunctionUIDs, "function-uids", "", `uids functions run under, one per function, "FIRST-LAST" or "off" (default 61000-61999 when run as root, else off)`)
	f.Int64Var(&cfg.CodeStorageQuota, "code-storage-quota", function.DefaultCodeQuota, "bytes of function code (zips and unpacked) this node keeps; beyond it uploads fail with CodeStorageExceededException")
	f.StringVar(&cfg.SecretKeyFile, "secret-key-file", "", "the key file sealing secrets and function environment variables when KAFKAESM_SECRET_KEY is unset (default <data-dir>/secret.key; created 0600; one others can read is refused)")
	f.StringVar(&cfg.Region, "region", arn.DefaultRegion, "AWS region used in ARNs")
	f.StringVar(&cfg.AccountID, "account-id", arn.DefaultAccountID, "AWS account id used in ARNs")
	f.StringVar(&cfg.AccessKeyID, "access-key-id", "", "accept SigV4 requests signed with this access key id, with full access (env KAFKAESM_ACCESS_KEY_ID); default: the key in <data-dir>/credentials, created on first start")
	f.StringVar(&cfg.SecretAccessKey, "secret-access-key", "", "secret access key for --access-key-id (env KAFKAESM_SECRET_ACCESS_KEY; prefer the env var: flags show in ps)")
	f.StringVar(&cfg.PrincipalsFile, "principals", "", "JSON file of principals (access keys) and their IAM-style policies, re-read on SIGHUP (docs/api.md)")
	f.BoolVar(&cfg.NoAuth, "no-auth", false, "serve the API WITHOUT authentication (loopback addresses only; any local user or process can then use it)")
	f.StringSliceVar(&cfg.AllowedHosts, "allowed-host", nil, "host name or address clients use to reach the server, accepted in the Host header besides loopback names and addresses and the address a request arrives on (repeatable)")
	f.StringVar(&cfg.TLSCertFile, "tls-cert", "", "PEM certificate (chain) to serve the API over HTTPS, with --tls-key")
	f.StringVar(&cfg.TLSKeyFile, "tls-key", "", "PEM private key for --tls-cert")
	f.BoolVar(&cfg.InsecureListen, "insecure-listen", false, "allow a non-loopback --listen address without TLS (requests, secret values and code cross the network in clear text)")
	f.StringVar(&cfg.MetricsListen, "metrics-listen", "", "serve /metrics on this address without authentication instead of on the API listener behind it (e.g. 127.0.0.1:9101)")
	f.IntVar(&cfg.MaxConnections, "max-connections", 512, "maximum open connections to the API listener")
	f.Int64Var(&cfg.SpoolBudget, "spool-budget", api.DefaultSpoolBudget, "bytes of request bodies spooled to <data-dir>/tmp at once before their signature is checked; beyond it requests get 429 TooManyRequestsException")
	f.StringVar(&cfg.EventSource, "event-source", "SelfManagedKafka", `eventSource in Kafka payloads: "SelfManagedKafka" (what AWS sends) or "aws:SelfManagedKafka" (an older spelling, seen in some documentation)`)
	f.DurationVar(&cfg.ScaleInterval, "scale-interval", time.Minute, "how often each mapping's consumer lag is evaluated to add or remove pollers (Lambda: 1m; at least 1s)")
	f.BoolVar(&cfg.NoKafkaClientMetrics, "no-kafka-client-metrics", false, "leave the Kafka client's own metrics (franz-go kprom) out of /metrics")
	f.DurationVar(&cfg.KafkaSessionTimeout, "kafka-session-timeout", 45*time.Second, "consumer group session timeout: how long a crashed node keeps its partitions (the broker allows 6s..30m by default)")
	f.DurationVar(&cfg.ShutdownGrace, "shutdown-grace", server.DefaultShutdownGrace, "on SIGTERM/SIGINT, how long in-flight invocations may run to their end before they are stopped (their batches are then redelivered); offsets are committed and groups left after it in any case")
	return cmd
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the kafkaesm version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			v := version
			if bi, ok := debug.ReadBuildInfo(); ok && v == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
				v = bi.Main.Version
			}
			fmt.Fprintf(cmd.OutOrStdout(), "kafkaesm %s\n", v)
		},
	}
}

// newServer completes cfg from the environment and builds the node: serve and dev both start
// their server here, so dev runs exactly what serve runs.
func newServer(cfg server.Config) (*server.Server, error) {
	cfg.Pollers = true // mappings run with internal/poller
	// Read from the environment here, not as flag defaults, so --help never prints a secret.
	if cfg.AccessKeyID == "" {
		cfg.AccessKeyID = os.Getenv("KAFKAESM_ACCESS_KEY_ID")
	}
	if cfg.SecretAccessKey == "" {
		cfg.SecretAccessKey = os.Getenv("KAFKAESM_SECRET_ACCESS_KEY")
	} else {
		// Given as a flag: /proc/<pid>/cmdline is readable by every local user, functions
		// included, so the value is blanked there (the flag's value shares argv's memory).
		cfg.SecretAccessKey = strings.Clone(cfg.SecretAccessKey)
		scrubArgs(cfg.SecretAccessKey)
	}
	cfg.SecretKey = os.Getenv(secrets.EnvKey) // env only: a key on the command line shows in ps
	return server.New(cfg)
}

// scrubArgs overwrites every occurrence of secret in the process's argv, which the kernel shows
// in /proc/<pid>/cmdline and ps. Go's os.Args strings point into that memory (the runtime does
// not copy them), so writing through them changes what others see.
func scrubArgs(secret string) {
	if secret == "" {
		return
	}
	for _, a := range os.Args {
		for i := 0; ; {
			j := strings.Index(a[i:], secret)
			if j < 0 {
				break
			}
			b := unsafe.Slice(unsafe.StringData(a), len(a))
			for k := i + j; k < i+j+len(secret); k++ {
				b[k] = 'x'
			}
			i += j + len(secret)
		}
	}
}
