package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/kafkaesm/kafkaesm/internal/server"
)

const serveLong = `Runs the kafkaesm server: the Lambda-compatible API (event source mappings, functions, Invoke)
and the Secrets Manager API on one listener, the mappings' Kafka consumers, and the functions.

On the same listener:
  GET /healthz   200 "ok" while the server runs, without authentication (load balancers, scripts)
  GET /metrics   Prometheus metrics named after Lambda's (kafkaesm_OffsetLag, …), signed like the
                 API; or open on an address of its own with --metrics-listen

Python functions (python3.N runtimes) run "INTERPRETER -m awslambdaric": python3.N from PATH when
it is installed with awslambdaric, else the default interpreter (python3 on PATH, or --python
PATH), with a warning in the function's log. --python 3.N=PATH names the interpreter of one
version. test/all.sh builds one such interpreter, a virtual environment with awslambdaric
(/var/cache/kafkaesm/venv when run as root; docs/functions.md).

It logs "kafkaesm listening" once it serves, and "kafkaesm stopped" after SIGINT or SIGTERM,
when in-flight batches are committed and consumers have left their groups.`

// pythonFlag is serve's repeatable --python: "3.N=PATH" names the interpreter of runtime
// python3.N, a bare PATH the default interpreter.
type pythonFlag struct{ cfg *server.Config }

var pythonVersionArg = regexp.MustCompile(`^3\.[0-9]+$`)

func (p pythonFlag) String() string {
	var parts []string
	if p.cfg.Python != "" {
		parts = append(parts, p.cfg.Python)
	}
	for v, path := range p.cfg.Pythons {
		parts = append(parts, v+"="+path)
	}
	return strings.Join(parts, ",")
}

func (p pythonFlag) Set(s string) error {
	v, path, ok := strings.Cut(s, "=")
	if !ok {
		if s == "" {
			return errors.New("want PATH or 3.N=PATH")
		}
		p.cfg.Python = s
		return nil
	}
	if !pythonVersionArg.MatchString(v) || path == "" {
		return fmt.Errorf("%q: want 3.N=PATH, e.g. 3.12=/usr/bin/python3.12", s)
	}
	if p.cfg.Pythons == nil {
		p.cfg.Pythons = map[string]string{}
	}
	p.cfg.Pythons[v] = path
	return nil
}

func (pythonFlag) Type() string { return "[3.N=]PATH" }

func addServeFlags(f *pflag.FlagSet, cfg *server.Config) {
	f.Var(pythonFlag{cfg}, "python", "Python interpreter for python3.* functions (default python3 on PATH); 3.N=PATH for runtime python3.N only; repeatable")
}

// runServer runs s until ctx ends and says so when it stops, since a server that was asked to
// stop may take a while (in-flight batches finish, offsets are committed, groups are left).
func runServer(ctx context.Context, s *server.Server, log *slog.Logger) error {
	stopped := make(chan struct{})
	defer close(stopped)
	go func() {
		select {
		case <-ctx.Done():
			log.Info("kafkaesm stopping: finishing in-flight batches, committing offsets")
		case <-stopped:
		}
	}()
	err := s.Run(ctx)
	if err != nil && !errors.Is(err, context.Canceled) {
		log.Error("kafkaesm stopped", "err", err)
		return err
	}
	log.Info("kafkaesm stopped")
	return nil
}

// addOutputFlag registers -o alone, for commands that do not call the API (produce, bench).
func (g *globals) addOutputFlag(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&g.output, "output", "o", "table", "output format: table or json")
}

func (g *globals) validateOutput() error {
	if g.output != "table" && g.output != "json" {
		return fmt.Errorf("--output must be table or json, got %q", g.output)
	}
	return nil
}
