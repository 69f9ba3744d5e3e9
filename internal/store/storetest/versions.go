package storetest

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/kafkaesm/kafkaesm/internal/function"
	"github.com/kafkaesm/kafkaesm/internal/store"
)

// publish publishes f's current state as a new version unless the newest one has the same code dir.
func publish(t *testing.T, s store.Store, name string) (*function.Function, bool) {
	t.Helper()
	v, created, err := s.PublishVersion(ctx(t), name, func(latest, newest *function.Function) (*function.Function, error) {
		if newest != nil && newest.CodeDir == latest.CodeDir {
			return nil, nil
		}
		return latest.Snapshot("", time.Now(), "rev"), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return v, created
}

func setCode(t *testing.T, s store.Store, name, dir string) {
	t.Helper()
	if _, err := s.UpdateFunction(ctx(t), name, func(f *function.Function) error { f.CodeDir = dir; return nil }); err != nil {
		t.Fatal(err)
	}
}

func testFunctionVersions(t *testing.T, s store.Store) {
	c := ctx(t)
	if _, _, err := s.PublishVersion(c, "f", func(l, n *function.Function) (*function.Function, error) { return l, nil }); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("publish without function: %v", err)
	}
	if err := s.CreateFunction(c, newFunction("f")); err != nil {
		t.Fatal(err)
	}
	v1, created := publish(t, s, "f")
	if !created || v1.Version != "1" || v1.CodeDir != newFunction("f").CodeDir || v1.FunctionArn != newFunction("f").FunctionArn+":1" {
		t.Fatalf("first publish: %v %+v", created, v1)
	}
	// Nothing changed: nothing new, the newest version comes back.
	again, created := publish(t, s, "f")
	if created || again.Version != "1" {
		t.Fatalf("unchanged publish: %v %+v", created, again)
	}
	// An error from fn aborts.
	boom := errors.New("boom")
	if _, _, err := s.PublishVersion(c, "f", func(l, n *function.Function) (*function.Function, error) { return nil, boom }); err != boom {
		t.Fatalf("fn error: %v", err)
	}
	setCode(t, s, "f", "/code/2")
	v2, created := publish(t, s, "f")
	if !created || v2.Version != "2" || v2.CodeDir != "/code/2" {
		t.Fatalf("second publish: %+v", v2)
	}
	// Versions are immutable: changing $LATEST leaves them alone.
	setCode(t, s, "f", "/code/3")
	got, err := s.GetFunctionVersion(c, "f", "1")
	if err != nil || got.CodeDir != newFunction("f").CodeDir || got.Version != "1" {
		t.Fatalf("version 1: %v %+v", err, got)
	}
	if got, err := s.GetFunctionVersion(c, "f", "$LATEST"); err != nil || got.CodeDir != "/code/3" {
		t.Fatalf("$LATEST: %v %+v", err, got)
	}
	// Reserved concurrency is the function's, read through any version.
	n := 4
	if _, err := s.UpdateFunction(c, "f", func(f *function.Function) error { f.ReservedConcurrentExecutions = &n; return nil }); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetFunctionVersion(c, "f", "2"); got.ReservedConcurrentExecutions == nil || *got.ReservedConcurrentExecutions != 4 {
		t.Fatalf("reserved through version: %+v", got)
	}
	for _, bad := range []string{"9", "0", "x", ""} {
		if _, err := s.GetFunctionVersion(c, "f", bad); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("version %q: %v", bad, err)
		}
	}
	// Pagination.
	for i := 3; i <= 7; i++ {
		setCode(t, s, "f", fmt.Sprintf("/code/v%d", i))
		publish(t, s, "f")
	}
	var seen []string
	marker := ""
	for {
		page, next, err := s.ListFunctionVersions(c, "f", store.Page{Marker: marker, Limit: 3})
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range page {
			seen = append(seen, v.Version)
		}
		if next == "" {
			break
		}
		marker = next
	}
	if !slices.Equal(seen, []string{"1", "2", "3", "4", "5", "6", "7"}) {
		t.Fatalf("listed %v", seen)
	}
	if _, _, err := s.ListFunctionVersions(c, "f", store.Page{Marker: "garbage!"}); !errors.Is(err, store.ErrBadMarker) {
		t.Fatalf("bad marker: %v", err)
	}
	// Deleting the newest version does not free its number.
	if err := s.DeleteFunctionVersion(c, "f", "7"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteFunctionVersion(c, "f", "7"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("delete twice: %v", err)
	}
	setCode(t, s, "f", "/code/8")
	if v, _ := publish(t, s, "f"); v.Version != "8" {
		t.Fatalf("number reused: %s", v.Version)
	}
	// Deleting the function deletes its versions; a new function starts again at 1.
	if err := s.DeleteFunction(c, "f"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetFunctionVersion(c, "f", "1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("version survived: %v", err)
	}
	if err := s.CreateFunction(c, newFunction("f")); err != nil {
		t.Fatal(err)
	}
	if v, _ := publish(t, s, "f"); v.Version != "1" {
		t.Fatalf("new function's first version: %s", v.Version)
	}
}

func testFunctionAliases(t *testing.T, s store.Store) {
	c := ctx(t)
	alias := func(name, version string, extra map[string]float64) *function.Alias {
		a := &function.Alias{Name: name, FunctionVersion: version, AliasArn: "arn:f:" + name, RevisionId: "r1"}
		if extra != nil {
			a.RoutingConfig = &function.RoutingConfig{AdditionalVersionWeights: extra}
		}
		return a
	}
	if err := s.CreateAlias(c, "f", alias("live", "$LATEST", nil)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("alias without function: %v", err)
	}
	if err := s.CreateFunction(c, newFunction("f")); err != nil {
		t.Fatal(err)
	}
	publish(t, s, "f")
	setCode(t, s, "f", "/code/2")
	publish(t, s, "f")
	if err := s.CreateAlias(c, "f", alias("live", "1", nil)); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateAlias(c, "f", alias("live", "2", nil)); !errors.Is(err, store.ErrExists) {
		t.Fatalf("duplicate alias: %v", err)
	}
	var missing *store.MissingVersionError
	if err := s.CreateAlias(c, "f", alias("x", "3", nil)); !errors.As(err, &missing) || missing.Version != "3" {
		t.Fatalf("alias on a missing version: %v", err)
	}
	if err := s.CreateAlias(c, "f", alias("x", "1", map[string]float64{"5": 0.5})); !errors.As(err, &missing) || missing.Version != "5" {
		t.Fatalf("routing to a missing version: %v", err)
	}
	// A version is named by its number as published: "01" is not version 1. Were it, an alias
	// on "01" would not keep version 1 from being deleted (aliases are matched by name).
	if err := s.CreateAlias(c, "f", alias("x", "01", nil)); !errors.As(err, &missing) || missing.Version != "01" {
		t.Fatalf("alias on 01: %v", err)
	}
	if err := s.CreateAlias(c, "f", alias("x", "1", map[string]float64{"02": 0.5})); !errors.As(err, &missing) || missing.Version != "02" {
		t.Fatalf("routing to 02: %v", err)
	}
	if _, err := s.GetFunctionVersion(c, "f", "01"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetFunctionVersion 01: %v", err)
	}
	if err := s.DeleteFunctionVersion(c, "f", "02"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("DeleteFunctionVersion 02: %v", err)
	}
	if err := s.CreateAlias(c, "f", alias("canary", "1", map[string]float64{"2": 0.25})); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateAlias(c, "f", alias("dev", "$LATEST", nil)); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetAlias(c, "f", "canary")
	if err != nil || got.FunctionVersion != "1" || got.RoutingConfig.AdditionalVersionWeights["2"] != 0.25 {
		t.Fatalf("get: %v %+v", err, got)
	}
	if _, err := s.GetAlias(c, "f", "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown alias: %v", err)
	}
	// Versions in use cannot be deleted, through either member.
	var inUse *store.VersionInUseError
	if err := s.DeleteFunctionVersion(c, "f", "1"); !errors.As(err, &inUse) || !slices.Equal(inUse.Aliases, []string{"canary", "live"}) {
		t.Fatalf("delete version 1: %v", err)
	}
	if err := s.DeleteFunctionVersion(c, "f", "2"); !errors.As(err, &inUse) || !slices.Equal(inUse.Aliases, []string{"canary"}) {
		t.Fatalf("delete version 2: %v", err)
	}
	names := func(version string, limit int) []string {
		var out []string
		marker := ""
		for {
			page, next, err := s.ListAliases(c, "f", version, store.Page{Marker: marker, Limit: limit})
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range page {
				out = append(out, a.Name)
			}
			if next == "" {
				return out
			}
			marker = next
		}
	}
	if got := names("", 1); !slices.Equal(got, []string{"live", "canary", "dev"}) {
		t.Fatalf("list: %v", got)
	}
	if got := names("2", 10); !slices.Equal(got, []string{"canary"}) {
		t.Fatalf("list version 2: %v", got)
	}
	// Update: moving live and dropping canary's routing frees version 1's second user.
	if _, err := s.UpdateAlias(c, "f", "live", func(a *function.Alias) error { a.FunctionVersion = "2"; return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateAlias(c, "f", "live", func(a *function.Alias) error { a.FunctionVersion = "9"; return nil }); !errors.As(err, &missing) {
		t.Fatalf("update to a missing version: %v", err)
	}
	if got, _ := s.GetAlias(c, "f", "live"); got.FunctionVersion != "2" {
		t.Fatalf("failed update applied: %+v", got)
	}
	if _, err := s.UpdateAlias(c, "f", "canary", func(a *function.Alias) error { a.FunctionVersion = "2"; a.RoutingConfig = nil; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteFunctionVersion(c, "f", "1"); err != nil {
		t.Fatalf("delete unused version 1: %v", err)
	}
	if _, err := s.UpdateAlias(c, "f", "nope", func(*function.Alias) error { return nil }); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("update unknown: %v", err)
	}
	if err := s.DeleteAlias(c, "f", "live"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteAlias(c, "f", "live"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("delete twice: %v", err)
	}
	// Deleting the function deletes its aliases.
	if err := s.DeleteFunction(c, "f"); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateFunction(c, newFunction("f")); err != nil {
		t.Fatal(err)
	}
	if got := names("", 10); len(got) != 0 {
		t.Fatalf("aliases survived: %v", got)
	}
}
