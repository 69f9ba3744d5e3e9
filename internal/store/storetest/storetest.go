// Package storetest is the conformance suite every store.Store implementation must pass.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/kafkaesm/kafkaesm/internal/function"
	"github.com/kafkaesm/kafkaesm/internal/mapping"
	"github.com/kafkaesm/kafkaesm/internal/store"
)

// Run runs the suite. newStore returns an empty store; the suite closes it.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"MappingCRUD", testMappingCRUD},
		{"MappingCreateCheck", testMappingCreateCheck},
		{"MappingGroupIDUnique", testMappingGroupIDUnique},
		{"MappingList", testMappingList},
		{"MappingStatus", testMappingStatus},
		{"FunctionCRUD", testFunctionCRUD},
		{"FunctionList", testFunctionList},
		{"Tags", testTags},
		{"FunctionVersions", testFunctionVersions},
		{"FunctionAliases", testFunctionAliases},
		{"ConcurrentUpdates", testConcurrentUpdates},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			t.Cleanup(func() { _ = s.Close() })
			tt.fn(t, s)
		})
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// NewMapping returns a valid mapping for tests.
func NewMapping(uuid, fn string) *mapping.EventSourceMapping {
	bs := 100
	return &mapping.EventSourceMapping{
		UUID:                  uuid,
		EventSourceMappingArn: "arn:aws:lambda:us-east-1:000000000000:event-source-mapping:" + uuid,
		FunctionArn:           fn,
		State:                 mapping.StateCreating,
		StateTransitionReason: mapping.ReasonUserInitiated,
		LastModified:          mapping.EpochTime{Time: time.UnixMilli(1700000000123).UTC()},
		LastProcessingResult:  mapping.ResultNoRecordsProcessed,
		SelfManagedEventSource: &mapping.SelfManagedEventSource{Endpoints: map[string][]string{
			"KAFKA_BOOTSTRAP_SERVERS": {"localhost:9092"}}},
		Topics:                     []string{"t-" + uuid},
		SourceAccessConfigurations: []mapping.SourceAccessConfiguration{{Type: "VPC_SUBNET", URI: "subnet:subnet-1"}},
		StartingPosition:           "TRIM_HORIZON",
		BatchSize:                  bs,
		Enabled:                    true,
		Revision:                   1,
	}
}

const fnArn = "arn:aws:lambda:us-east-1:000000000000:function:f"

func testMappingCRUD(t *testing.T, s store.Store) {
	c := ctx(t)
	m := NewMapping("u1", fnArn+":live")
	m.FilterCriteria = &mapping.FilterCriteria{Filters: []mapping.Filter{{Pattern: `{"value":[1]}`}}}
	if err := s.CreateMapping(c, m, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateMapping(c, NewMapping("u1", fnArn), nil); !errors.Is(err, store.ErrExists) {
		t.Fatalf("duplicate uuid: got %v, want ErrExists", err)
	}
	got, err := s.GetMapping(c, "u1")
	if err != nil {
		t.Fatal(err)
	}
	if got.FunctionArn != m.FunctionArn || !got.Enabled || got.Revision != 1 || got.FilterCriteria == nil ||
		got.FilterCriteria.Filters[0].Pattern != `{"value":[1]}` || !got.LastModified.Equal(m.LastModified.Time) {
		t.Fatalf("round trip: got %+v", got)
	}
	if _, err := s.GetMapping(c, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("get unknown: %v", err)
	}
	up, err := s.UpdateMapping(c, "u1", func(m *mapping.EventSourceMapping) error {
		m.BatchSize = 7
		m.Enabled = false
		m.Revision++
		return nil
	})
	if err != nil || up.BatchSize != 7 {
		t.Fatalf("update: %v %+v", err, up)
	}
	got, _ = s.GetMapping(c, "u1")
	if got.BatchSize != 7 || got.Enabled || got.Revision != 2 {
		t.Fatalf("after update: %+v", got)
	}
	boom := errors.New("boom")
	if _, err := s.UpdateMapping(c, "u1", func(m *mapping.EventSourceMapping) error { m.BatchSize = 9; return boom }); !errors.Is(err, boom) {
		t.Fatalf("update fn error: %v", err)
	}
	if got, _ := s.GetMapping(c, "u1"); got.BatchSize != 7 {
		t.Fatal("failed update was stored")
	}
	if _, err := s.UpdateMapping(c, "nope", func(*mapping.EventSourceMapping) error { return nil }); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("update unknown: %v", err)
	}
	if err := s.TagResource(c, m.EventSourceMappingArn, map[string]string{"a": "b"}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteMapping(c, "u1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetMapping(c, "u1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("after delete: %v", err)
	}
	if tags, _ := s.ListTags(c, m.EventSourceMappingArn); len(tags) != 0 {
		t.Fatalf("tags survived delete: %v", tags)
	}
	if err := s.DeleteMapping(c, "u1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("delete twice: %v", err)
	}
}

func testMappingCreateCheck(t *testing.T, s store.Store) {
	c := ctx(t)
	onTopic := func(uuid, fn, topic string) *mapping.EventSourceMapping {
		m := NewMapping(uuid, fn)
		m.Topics = []string{topic}
		return m
	}
	for _, m := range []*mapping.EventSourceMapping{
		onTopic("a", fnArn, "orders"), onTopic("b", fnArn+":1", "orders"),
		onTopic("x", fnArn+"x", "orders"), onTopic("y", fnArn, "other"),
	} {
		if err := s.CreateMapping(c, m, nil); err != nil {
			t.Fatal(err)
		}
	}
	conflict := errors.New("conflict")
	var seen []string
	err := s.CreateMapping(c, onTopic("c", fnArn+":2", "orders"), func(others []*mapping.EventSourceMapping) error {
		for _, o := range others {
			seen = append(seen, o.UUID)
		}
		return conflict
	})
	if !errors.Is(err, conflict) {
		t.Fatalf("check error not returned: %v", err)
	}
	if fmt.Sprint(seen) != "[a b]" {
		t.Fatalf("check saw %v, want the mappings of the same unqualified function and topic [a b]", seen)
	}
	if _, err := s.GetMapping(c, "c"); !errors.Is(err, store.ErrNotFound) {
		t.Fatal("rejected mapping was stored")
	}
}

func testMappingGroupIDUnique(t *testing.T, s store.Store) {
	c := ctx(t)
	a := NewMapping("a", fnArn)
	a.SelfManagedKafkaEventSourceConfig = &mapping.SelfManagedKafkaEventSourceConfig{ConsumerGroupId: "g"}
	if err := s.CreateMapping(c, a, nil); err != nil {
		t.Fatal(err)
	}
	b := NewMapping("b", fnArn)
	b.SelfManagedKafkaEventSourceConfig = &mapping.SelfManagedKafkaEventSourceConfig{ConsumerGroupId: "g"}
	if err := s.CreateMapping(c, b, nil); !errors.Is(err, store.ErrGroupIDTaken) {
		t.Fatalf("got %v, want ErrGroupIDTaken", err)
	}
	// A mapping's default group is its UUID.
	if err := s.CreateMapping(c, NewMapping("e", fnArn), nil); err != nil {
		t.Fatal(err)
	}
	d := NewMapping("d", fnArn)
	d.SelfManagedKafkaEventSourceConfig = &mapping.SelfManagedKafkaEventSourceConfig{ConsumerGroupId: "e"}
	if err := s.CreateMapping(c, d, nil); !errors.Is(err, store.ErrGroupIDTaken) {
		t.Fatalf("group equal to another mapping's UUID: got %v, want ErrGroupIDTaken", err)
	}
}

func testMappingList(t *testing.T, s store.Store) {
	c := ctx(t)
	var want []string
	for i := range 25 {
		fn := fnArn
		if i%2 == 1 {
			fn = fnArn + ":live"
		}
		if i%5 == 4 {
			fn = "arn:aws:lambda:us-east-1:000000000000:function:other"
		}
		u := fmt.Sprintf("m%02d", i)
		want = append(want, u)
		if err := s.CreateMapping(c, NewMapping(u, fn), nil); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	marker := ""
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("pagination does not end")
		}
		ms, next, err := s.ListMappings(c, store.MappingFilter{}, store.Page{Marker: marker, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		if len(ms) > 10 {
			t.Fatalf("page of %d > limit", len(ms))
		}
		for _, m := range ms {
			got = append(got, m.UUID)
		}
		if next == "" {
			break
		}
		marker = next
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("list: got %v want %v", got, want)
	}
	all, _, err := s.ListMappings(c, store.MappingFilter{FunctionArn: fnArn}, store.Page{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 20 {
		t.Fatalf("unqualified filter: %d mappings, want 20 (qualified included)", len(all))
	}
	live, _, _ := s.ListMappings(c, store.MappingFilter{FunctionArn: fnArn + ":live"}, store.Page{Limit: 100})
	if len(live) != 10 {
		t.Fatalf("qualified filter: %d, want 10", len(live))
	}
	if _, _, err := s.ListMappings(c, store.MappingFilter{}, store.Page{Marker: "garbage!"}); !errors.Is(err, store.ErrBadMarker) {
		t.Fatalf("bad marker: %v", err)
	}
}

func testMappingStatus(t *testing.T, s store.Store) {
	c := ctx(t)
	if err := s.CreateMapping(c, NewMapping("a", fnArn), nil); err != nil {
		t.Fatal(err)
	}
	if err := s.SetMappingStatus(c, "a", store.Status{LastProcessingResult: "OK"}); err != nil {
		t.Fatal(err)
	}
	m, _ := s.GetMapping(c, "a")
	if m.LastProcessingResult != "OK" || m.State != mapping.StateCreating || m.Revision != 1 {
		t.Fatalf("status: %+v", m)
	}
	if err := s.SetMappingStatus(c, "a", store.Status{State: "Disabled", StateTransitionReason: mapping.ReasonAuthnError}); err != nil {
		t.Fatal(err)
	}
	m, _ = s.GetMapping(c, "a")
	if m.State != "Disabled" || m.StateTransitionReason != mapping.ReasonAuthnError || m.LastProcessingResult != "OK" {
		t.Fatalf("status: %+v", m)
	}
	// The cause goes with the result: kept while other fields change, replaced (cleared) with it.
	if err := s.SetMappingStatus(c, "a", store.Status{LastProcessingResult: "PROBLEM: x", LastProcessingCause: "why"}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetMappingStatus(c, "a", store.Status{StateTransitionReason: mapping.ReasonUserInitiated}); err != nil {
		t.Fatal(err)
	}
	if m, _ = s.GetMapping(c, "a"); m.LastProcessingResult != "PROBLEM: x" || m.KafkaesmLastProcessingCause != "why" {
		t.Fatalf("status with cause: %+v", m)
	}
	if err := s.SetMappingStatus(c, "a", store.Status{LastProcessingResult: "OK"}); err != nil {
		t.Fatal(err)
	}
	if m, _ = s.GetMapping(c, "a"); m.LastProcessingResult != "OK" || m.KafkaesmLastProcessingCause != "" {
		t.Fatalf("status after the problem: %+v", m)
	}
	if err := s.SetMappingStatus(c, "zz", store.Status{State: "x"}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown: %v", err)
	}
}

func newFunction(name string) *function.Function {
	return &function.Function{
		FunctionName: name,
		FunctionArn:  function.Arn("us-east-1", "000000000000", name),
		Runtime:      "provided.al2023",
		Handler:      "bootstrap",
		Timeout:      3,
		MemorySize:   128,
		Version:      "$LATEST",
		Environment:  &function.Environment{Variables: map[string]string{"A": "1"}},
		CodeDir:      "/data/functions/" + name + "/abc",
	}
}

func testFunctionCRUD(t *testing.T, s store.Store) {
	c := ctx(t)
	f := newFunction("f")
	if err := s.CreateFunction(c, f); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateFunction(c, newFunction("f")); !errors.Is(err, store.ErrExists) {
		t.Fatalf("duplicate: %v", err)
	}
	got, err := s.GetFunction(c, "f")
	if err != nil {
		t.Fatal(err)
	}
	if got.CodeDir != f.CodeDir || got.Environment.Variables["A"] != "1" || got.ReservedConcurrentExecutions != nil {
		t.Fatalf("round trip: %+v", got)
	}
	n := 5
	if _, err := s.UpdateFunction(c, "f", func(f *function.Function) error {
		f.ReservedConcurrentExecutions = &n
		f.Timeout = 30
		f.CodeDir = "/new"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	got, _ = s.GetFunction(c, "f")
	if got.ReservedConcurrentExecutions == nil || *got.ReservedConcurrentExecutions != 5 || got.Timeout != 30 || got.CodeDir != "/new" {
		t.Fatalf("after update: %+v", got)
	}
	if _, err := s.UpdateFunction(c, "f", func(f *function.Function) error { f.ReservedConcurrentExecutions = nil; return nil }); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetFunction(c, "f"); got.ReservedConcurrentExecutions != nil {
		t.Fatal("reserved concurrency not cleared")
	}
	if _, err := s.GetFunction(c, "g"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown: %v", err)
	}
	if _, err := s.UpdateFunction(c, "g", func(*function.Function) error { return nil }); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("update unknown: %v", err)
	}
	_ = s.TagResource(c, f.FunctionArn, map[string]string{"k": "v"})
	if err := s.DeleteFunction(c, "f"); err != nil {
		t.Fatal(err)
	}
	if tags, _ := s.ListTags(c, f.FunctionArn); len(tags) != 0 {
		t.Fatalf("tags survived: %v", tags)
	}
	if err := s.DeleteFunction(c, "f"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("delete twice: %v", err)
	}
	// The name is free again.
	if err := s.CreateFunction(c, newFunction("f")); err != nil {
		t.Fatal(err)
	}
}

func testFunctionList(t *testing.T, s store.Store) {
	c := ctx(t)
	var want []string
	for i := range 7 {
		n := fmt.Sprintf("f%d", i)
		want = append(want, n)
		if err := s.CreateFunction(c, newFunction(n)); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	marker := ""
	for range 10 {
		fs, next, err := s.ListFunctions(c, store.Page{Marker: marker, Limit: 3})
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range fs {
			got = append(got, f.FunctionName)
		}
		if next == "" {
			break
		}
		marker = next
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %v want %v", got, want)
	}
}

func testTags(t *testing.T, s store.Store) {
	c := ctx(t)
	arn := "arn:aws:lambda:us-east-1:000000000000:event-source-mapping:x"
	tags, err := s.ListTags(c, arn)
	if err != nil || tags == nil || len(tags) != 0 {
		t.Fatalf("empty tags: %v %v", tags, err)
	}
	if err := s.TagResource(c, arn, map[string]string{"a": "1", "b": "2"}); err != nil {
		t.Fatal(err)
	}
	if err := s.TagResource(c, arn, map[string]string{"b": "3", "c": "4"}); err != nil {
		t.Fatal(err)
	}
	if err := s.UntagResource(c, arn, []string{"a", "zz"}); err != nil {
		t.Fatal(err)
	}
	tags, _ = s.ListTags(c, arn)
	if fmt.Sprint(tags) != "map[b:3 c:4]" {
		t.Fatalf("tags: %v", tags)
	}
}

func testConcurrentUpdates(t *testing.T, s store.Store) {
	c := ctx(t)
	if err := s.CreateMapping(c, NewMapping("a", fnArn), nil); err != nil {
		t.Fatal(err)
	}
	const n = 20
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	for i := range n {
		wg.Add(2)
		go func() {
			defer wg.Done()
			_, err := s.UpdateMapping(c, "a", func(m *mapping.EventSourceMapping) error { m.BatchSize++; return nil })
			errs <- err
		}()
		go func() {
			defer wg.Done()
			if _, err := s.GetMapping(c, "a"); err != nil {
				errs <- err
			}
			errs <- s.CreateMapping(c, NewMapping(fmt.Sprintf("c%d", i), fnArn), nil)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	m, _ := s.GetMapping(c, "a")
	if m.BatchSize != 100+n {
		t.Fatalf("lost updates: BatchSize %d, want %d", m.BatchSize, 100+n)
	}
}
