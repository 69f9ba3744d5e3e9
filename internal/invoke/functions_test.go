package invoke

import (
	"context"
	"errors"
	"testing"

	"github.com/kafkaesm/kafkaesm/internal/function"
)

func TestParseFunctionName(t *testing.T) {
	for _, c := range []struct{ in, name, q string }{
		{"f", "f", ""},
		{"f:$LATEST", "f", "$LATEST"},
		{"123456789012:function:f", "f", ""},
		{"123456789012:function:f:1", "f", "1"},
		{"arn:aws:lambda:us-east-1:123456789012:function:f", "f", ""},
		{"arn:aws:lambda:us-east-1:123456789012:function:f:alias", "f", "alias"},
	} {
		if n, q := ParseFunctionName(c.in); n != c.name || q != c.q {
			t.Errorf("ParseFunctionName(%q) = %q, %q; want %q, %q", c.in, n, q, c.name, c.q)
		}
	}
}

// countingSource counts reads of a MapFunctions.
type countingSource struct {
	*MapFunctions
	reads int
}

func (c *countingSource) GetFunction(ctx context.Context, name string) (*function.Function, error) {
	c.reads++
	return c.MapFunctions.GetFunction(ctx, name)
}

func TestCachedFunctions(t *testing.T) {
	src := &countingSource{MapFunctions: &MapFunctions{}}
	src.Put(&function.Function{FunctionName: "f", RevisionId: "1"})
	c := NewCachedFunctions(src, func(err error) bool { return errors.Is(err, ErrFunctionNotFound) })
	ctx := context.Background()
	for range 3 {
		fn, err := c.Resolve(ctx, "arn:aws:lambda:us-east-1:000000000000:function:f", "")
		if err != nil || fn.RevisionId != "1" || fn.Version != "$LATEST" {
			t.Fatalf("resolve: %v %v", fn, err)
		}
	}
	if src.reads != 1 {
		t.Errorf("store reads = %d, want 1 (cached)", src.reads)
	}
	src.Put(&function.Function{FunctionName: "f", RevisionId: "2"})
	c.Invalidate("f")
	if fn, _ := c.Resolve(ctx, "f", ""); fn.RevisionId != "2" {
		t.Errorf("after Invalidate: revision %s", fn.RevisionId)
	}
	src.Delete("f")
	c.Invalidate("f")
	if _, err := c.Resolve(ctx, "f", ""); !errors.Is(err, ErrFunctionNotFound) {
		t.Errorf("deleted: %v", err)
	}
}

func TestRetire(t *testing.T) {
	e, fns := newEngine(t, nil)
	fns.Put(goFunction("r"))
	a := invokeEnv(t, e, "r")
	e.Retire("r")
	waitFor(t, func() bool { return envCount(e) == 0 })
	if b := invokeEnv(t, e, "r"); b.Pid == a.Pid {
		t.Error("retired environment reused")
	}
}
