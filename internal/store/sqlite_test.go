package store_test

import (
	"context"
	"testing"

	"github.com/kafkaesm/kafkaesm/internal/mapping"
	"github.com/kafkaesm/kafkaesm/internal/store"
	"github.com/kafkaesm/kafkaesm/internal/store/storetest"
)

func TestSQLiteConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := store.OpenSQLite(context.Background(), t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestSQLiteSurvivesReopen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := store.OpenSQLite(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateMapping(ctx, storetest.NewMapping("u", "arn:aws:lambda:us-east-1:000000000000:function:f"), nil); err != nil {
		t.Fatal(err)
	}
	if err := s.TagResource(ctx, "arn:x", map[string]string{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = store.OpenSQLite(ctx, dir) // migrations run again and must be skipped
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	m, err := s.GetMapping(ctx, "u")
	if err != nil {
		t.Fatal(err)
	}
	if m.State != mapping.StateCreating || !m.Enabled {
		t.Fatalf("reopened: %+v", m)
	}
	if tags, _ := s.ListTags(ctx, "arn:x"); tags["k"] != "v" {
		t.Fatalf("tags: %v", tags)
	}
}
