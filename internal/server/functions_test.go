package server

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/kafkaesm/kafkaesm/internal/function"
	"github.com/kafkaesm/kafkaesm/internal/invoke"
)

func TestFunctionRuntime(t *testing.T) {
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`"v1"`)) }))
	defer target.Close()
	fns := &invoke.MapFunctions{}
	fns.Put(&function.Function{FunctionName: "f", Timeout: 3, HTTPTarget: &function.HTTPTarget{URL: target.URL}})
	cfg := Config{DataDir: t.TempDir()}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	fr, err := newFunctionRuntime(cfg, fns, func(err error) bool { return errors.Is(err, invoke.ErrFunctionNotFound) }, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer fr.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := fr.Engine.Invoke(ctx, invoke.Request{Function: "f", Payload: []byte(`{}`)})
	if err != nil || string(res.Payload) != `"v1"` {
		t.Fatalf("invoke: %v %s", err, res.Payload)
	}
	fns.Delete("f")
	fr.Changed("f")
	if _, err := fr.Engine.Invoke(ctx, invoke.Request{Function: "f"}); !errors.Is(err, invoke.ErrFunctionNotFound) {
		t.Fatalf("after delete: %v", err)
	}
}
