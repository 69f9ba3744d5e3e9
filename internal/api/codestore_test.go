package api

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/kafkaesm/kafkaesm/internal/store"
)

func newCodeAPI(t *testing.T, quota int64) (*Server, string) {
	t.Helper()
	dir := t.TempDir()
	st, err := store.OpenSQLite(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return New(Config{Store: st, DataDir: dir, CodeQuota: quota, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}), dir
}

// codeZip is a provided.al2023 zip: an executable bootstrap and n random (incompressible) bytes.
func codeZip(t *testing.T, n int, executable bool) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	h := &zip.FileHeader{Name: "bootstrap", Method: zip.Store}
	mode := os.FileMode(0o644)
	if executable {
		mode = 0o755
	}
	h.SetMode(mode)
	w, _ := zw.CreateHeader(h)
	w.Write([]byte("#!/bin/sh\n"))
	data := make([]byte, n)
	_, _ = rand.Read(data)
	w, _ = zw.CreateHeader(&zip.FileHeader{Name: "data.bin", Method: zip.Store})
	w.Write(data)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func apiCall(s *Server, method, path string, body any) *httptest.ResponseRecorder {
	b, _ := json.Marshal(body)
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest(method, path, bytes.NewReader(b)))
	return rec
}

func createFn(s *Server, name string, code []byte) *httptest.ResponseRecorder {
	return apiCall(s, "POST", "/2015-03-31/functions", map[string]any{"FunctionName": name, "Runtime": "provided.al2023",
		"Handler": "bootstrap", "Role": "arn:aws:iam::000000000000:role/r", "Code": map[string]string{"ZipFile": base64.StdEncoding.EncodeToString(code)}})
}

func updateCode(s *Server, name string, code []byte, dryRun bool) *httptest.ResponseRecorder {
	return apiCall(s, "PUT", "/2015-03-31/functions/"+name+"/code", map[string]any{"ZipFile": base64.StdEncoding.EncodeToString(code), "DryRun": dryRun})
}

// files lists everything under the function code root.
func files(t *testing.T, dataDir string) []string {
	t.Helper()
	var out []string
	root := filepath.Join(dataDir, "functions")
	_ = filepath.WalkDir(root, func(p string, _ os.DirEntry, err error) error {
		if err == nil && p != root {
			rel, _ := filepath.Rel(root, p)
			out = append(out, rel)
		}
		return nil
	})
	return out
}

func wantCode(t *testing.T, rec *httptest.ResponseRecorder, status int, typ string) {
	t.Helper()
	if rec.Code != status || (typ != "" && rec.Header().Get("X-Amzn-Errortype") != typ) {
		t.Fatalf("got %d %s %s, want %d %s", rec.Code, rec.Header().Get("X-Amzn-Errortype"), rec.Body, status, typ)
	}
}

// TestCodeStorageQuota: uploads beyond the node's code quota fail with
// CodeStorageExceededException and leave nothing behind.
func TestCodeStorageQuota(t *testing.T) {
	s, dir := newCodeAPI(t, 3<<20)
	wantCode(t, createFn(s, "q1", codeZip(t, 1<<20, true)), http.StatusCreated, "")
	before := files(t, dir)
	wantCode(t, createFn(s, "q2", codeZip(t, 1<<20, true)), http.StatusBadRequest, "CodeStorageExceededException")
	wantCode(t, updateCode(s, "q1", codeZip(t, 1<<20, true), false), http.StatusBadRequest, "CodeStorageExceededException")
	if after := files(t, dir); !slices.Equal(before, after) {
		t.Fatalf("refused uploads left files: before %v, after %v", before, after)
	}
	// Freeing space makes room again.
	wantCode(t, apiCall(s, "DELETE", "/2015-03-31/functions/q1", nil), http.StatusNoContent, "")
	wantCode(t, createFn(s, "q2", codeZip(t, 1<<20, true)), http.StatusCreated, "")
}

// TestDryRunAndFailedUploadsLeaveNothing: UpdateFunctionCode with DryRun checks the code and
// keeps none of it; a CreateFunction that fails (bad package, name taken) leaves no directory.
func TestDryRunAndFailedUploadsLeaveNothing(t *testing.T) {
	s, dir := newCodeAPI(t, 0)
	wantCode(t, createFn(s, "d", codeZip(t, 1000, true)), http.StatusCreated, "")
	before := files(t, dir)
	for i := 0; i < 3; i++ {
		wantCode(t, updateCode(s, "d", codeZip(t, 200<<10, true), true), http.StatusOK, "")
	}
	wantCode(t, updateCode(s, "d", codeZip(t, 1000, false), true), http.StatusBadRequest, "InvalidParameterValueException")
	if after := files(t, dir); !slices.Equal(before, after) {
		t.Fatalf("DryRun left files: before %v, after %v", before, after)
	}
	wantCode(t, createFn(s, "bad", codeZip(t, 1000, false)), http.StatusBadRequest, "InvalidParameterValueException")
	wantCode(t, createFn(s, "d", codeZip(t, 1000, true)), http.StatusConflict, "ResourceConflictException")
	if after := files(t, dir); !slices.Equal(before, after) {
		t.Fatalf("failed creates left files: before %v, after %v", before, after)
	}
}

// TestUpdateDeleteRace: UpdateFunctionCode racing DeleteFunction never answers 5xx and never
// leaves code of a deleted function, or code no function uses.
func TestUpdateDeleteRace(t *testing.T) {
	s, dir := newCodeAPI(t, 0)
	for round := 0; round < 30; round++ {
		wantCode(t, createFn(s, "race", codeZip(t, 50<<10, true)), http.StatusCreated, "")
		next := codeZip(t, 50<<10, true)
		var wg sync.WaitGroup
		var upd, del *httptest.ResponseRecorder
		wg.Add(2)
		go func() { defer wg.Done(); upd = updateCode(s, "race", next, false) }()
		go func() { defer wg.Done(); del = apiCall(s, "DELETE", "/2015-03-31/functions/race", nil) }()
		wg.Wait()
		if upd.Code >= 500 || del.Code >= 500 {
			t.Fatalf("round %d: update %d %s, delete %d %s", round, upd.Code, upd.Body, del.Code, del.Body)
		}
		if upd.Code != http.StatusOK && upd.Code != http.StatusNotFound {
			t.Fatalf("round %d: update %d %s, want 200 or 404", round, upd.Code, upd.Body)
		}
		if left := files(t, dir); len(left) != 0 {
			t.Fatalf("round %d (update %d, delete %d): the deleted function's code is left: %v", round, upd.Code, del.Code, left)
		}
	}
}

// TestDeleteVersionRetiresOnlyThatVersion: deleting a published version tells the invoker
// which version went (VersionDeleted), so that $LATEST's and the other versions' warm
// environments stay; it once retired every version's, a cold start for the live alias each
// time a pipeline cleaned up an old version. Deleting the function retires everything.
func TestDeleteVersionRetiresOnlyThatVersion(t *testing.T) {
	s, _ := newCodeAPI(t, 0)
	var calls []string
	s.cfg.FunctionChanged = func(name string) { calls = append(calls, "function "+name) }
	s.cfg.VersionDeleted = func(name, version string) { calls = append(calls, "version "+name+":"+version) }
	wantCode(t, createFn(s, "rv", codeZip(t, 100, true)), http.StatusCreated, "")
	wantCode(t, apiCall(s, "POST", "/2015-03-31/functions/rv/versions", nil), http.StatusCreated, "")
	wantCode(t, updateCode(s, "rv", codeZip(t, 100, true), false), http.StatusOK, "")
	wantCode(t, apiCall(s, "POST", "/2015-03-31/functions/rv/versions", nil), http.StatusCreated, "")
	calls = nil
	wantCode(t, apiCall(s, "DELETE", "/2015-03-31/functions/rv?Qualifier=1", nil), http.StatusNoContent, "")
	wantCode(t, apiCall(s, "DELETE", "/2015-03-31/functions/rv:2", nil), http.StatusNoContent, "")
	wantCode(t, apiCall(s, "DELETE", "/2015-03-31/functions/rv", nil), http.StatusNoContent, "")
	if want := []string{"version rv:1", "version rv:2", "function rv"}; !slices.Equal(calls, want) {
		t.Fatalf("calls %v, want %v", calls, want)
	}
}

// TestPublishToRefused: PublishTo (LATEST_PUBLISHED, Lambda Managed Instances) is refused by
// CreateFunction, UpdateFunctionCode and PublishVersion rather than ignored, which published
// a numbered version instead; nothing is created, changed or published.
func TestPublishToRefused(t *testing.T) {
	s, _ := newCodeAPI(t, 0)
	code := base64.StdEncoding.EncodeToString(codeZip(t, 100, true))
	wantCode(t, apiCall(s, "POST", "/2015-03-31/functions", map[string]any{"FunctionName": "pt", "Runtime": "provided.al2023",
		"Handler": "bootstrap", "Role": "arn:aws:iam::000000000000:role/r", "Code": map[string]string{"ZipFile": code}, "PublishTo": "LATEST_PUBLISHED"}),
		http.StatusBadRequest, "InvalidParameterValueException")
	wantCode(t, apiCall(s, "GET", "/2015-03-31/functions/pt", nil), http.StatusNotFound, "ResourceNotFoundException")
	wantCode(t, createFn(s, "pt", codeZip(t, 100, true)), http.StatusCreated, "")
	wantCode(t, apiCall(s, "PUT", "/2015-03-31/functions/pt/code", map[string]any{"ZipFile": code, "Publish": true, "PublishTo": "LATEST_PUBLISHED"}),
		http.StatusBadRequest, "InvalidParameterValueException")
	wantCode(t, apiCall(s, "POST", "/2015-03-31/functions/pt/versions", map[string]any{"PublishTo": "LATEST_PUBLISHED"}),
		http.StatusBadRequest, "InvalidParameterValueException")
	rec := apiCall(s, "GET", "/2015-03-31/functions/pt/versions", nil)
	if !strings.Contains(rec.Body.String(), `"Versions":[{`) || strings.Contains(rec.Body.String(), `:function:pt:1"`) {
		t.Fatalf("versions after refused publishes: %s", rec.Body)
	}
}
