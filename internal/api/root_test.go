package api

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestRootPage: GET / says what the address is instead of 405; other paths stay 404.
func TestRootPage(t *testing.T) {
	s, _ := newTestAPI(t)
	for _, c := range []struct {
		method, path string
		code         int
		body         string
	}{
		{"GET", "/", 200, "use the AWS CLI or an SDK with --endpoint-url"},
		{"HEAD", "/", 200, ""},
		{"GET", "/nope", 404, ""},
	} {
		w := httptest.NewRecorder()
		s.ServeHTTP(w, httptest.NewRequest(c.method, c.path, nil))
		if w.Code != c.code || !strings.Contains(w.Body.String(), c.body) {
			t.Errorf("%s %s: %d %q, want %d containing %q", c.method, c.path, w.Code, w.Body, c.code, c.body)
		}
	}
	w := httptest.NewRecorder()
	s.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil))
	if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type %q", ct)
	}
}
