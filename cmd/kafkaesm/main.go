// Command kafkaesm runs AWS Lambda's event source mapping for self-managed Apache Kafka on your
// own machines. main stays thin: flags → config → run.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := newRootCmd().ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "kafkaesm:", err)
		os.Exit(1)
	}
}
