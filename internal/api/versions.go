package api

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/kafkaesm/kafkaesm/internal/function"
	"github.com/kafkaesm/kafkaesm/internal/store"
)

// Function versions (PublishVersion, ListVersionsByFunction, qualified reads and deletes) and
// the provisioned concurrency operations kafkaesm refuses.
func (s *Server) versionRoutes() {
	s.handle("POST /2015-03-31/functions/{FunctionName}/versions", s.publishVersion)
	s.handle("GET /2015-03-31/functions/{FunctionName}/versions", s.listVersions)
	s.handle("PUT /2019-09-30/functions/{FunctionName}/provisioned-concurrency", s.putProvisionedConcurrency)
	s.handle("GET /2019-09-30/functions/{FunctionName}/provisioned-concurrency", s.getProvisionedConcurrency)
	s.handle("DELETE /2019-09-30/functions/{FunctionName}/provisioned-concurrency", s.getProvisionedConcurrency)
}

// maxListVersions is Lambda's ListVersionsByFunction page cap.
const maxListVersions = 50

// Errors of the version and alias operations, as Lambda words them.
var (
	errRevisionMismatch = &Error{Code: PreconditionFailed, Message: "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id"}
)

func (s *Server) latestChanged(name string) {
	if s.cfg.LatestChanged != nil {
		s.cfg.LatestChanged(name)
		return
	}
	s.functionChanged(name)
}

func (s *Server) qualifierChanged(name string) {
	if s.cfg.QualifierChanged != nil {
		s.cfg.QualifierChanged(name)
	}
}

// qualifierOf returns the qualifier a function operation names: the one in {FunctionName} or
// the Qualifier query parameter. Both given and different is Lambda's
// InvalidParameterValueException.
func qualifierOf(r *http.Request, ref function.Ref) (string, error) {
	q := ref.Qualifier
	if !r.URL.Query().Has("Qualifier") {
		return q, nil
	}
	qq := r.URL.Query().Get("Qualifier")
	if len(qq) > 128 || !qualifierRE.MatchString(qq) {
		return "", Errorf(Validation, "1 validation error detected: Value '%s' at 'qualifier' failed to satisfy constraint: Member must satisfy regular expression pattern: (|[a-zA-Z0-9$_-]+)", qq)
	}
	if q != "" && q != qq {
		return "", Errorf(InvalidParameterValue, "The derived qualifier from the function name does not match the specified qualifier.")
	}
	return qq, nil
}

// lookupQualified resolves the {FunctionName} and Qualifier of GetFunction,
// GetFunctionConfiguration and DeleteFunction: $LATEST when unqualified, a published version,
// or the version an alias points at, with FunctionArn qualified as the caller named it (the
// alias ARN for an alias). It returns the configuration and the qualifier ("" when none).
func (s *Server) lookupQualified(ctx context.Context, r *http.Request) (*function.Function, string, error) {
	ref, err := function.ParseName(r.PathValue("FunctionName"), "functionName")
	if err != nil {
		return nil, "", err
	}
	q, err := qualifierOf(r, ref)
	if err != nil {
		return nil, "", err
	}
	arn := function.QualifiedArn(function.Arn(s.cfg.Region, s.cfg.AccountID, ref.Name), q)
	notFound := Errorf(ResourceNotFound, "Function not found: %s", arn)
	if !s.ownRef(ref) {
		return nil, "", notFound
	}
	version := q
	if q != "" && q != function.Latest && !function.IsVersion(q) {
		a, err := s.cfg.Store.GetAlias(ctx, ref.Name, q)
		if errors.Is(err, store.ErrNotFound) {
			return nil, "", notFound
		}
		if err != nil {
			return nil, "", err
		}
		version = a.FunctionVersion
	}
	var f *function.Function
	if version == "" {
		f, err = s.cfg.Store.GetFunction(ctx, ref.Name)
	} else {
		f, err = s.cfg.Store.GetFunctionVersion(ctx, ref.Name, version)
	}
	if errors.Is(err, store.ErrNotFound) {
		return nil, "", notFound
	}
	if err != nil {
		return nil, "", err
	}
	f.FunctionArn = arn
	return f, q, nil
}

type publishInput struct {
	CodeSha256  *string `json:"CodeSha256"`
	Description *string `json:"Description"`
	RevisionId  *string `json:"RevisionId"`
	PublishTo   *string `json:"PublishTo"` // refused: function.ErrPublishTo
}

func (s *Server) publishVersion(w http.ResponseWriter, r *http.Request) {
	var in publishInput
	if !decodeJSON(w, r, maxBody, "PublishVersion", &in) {
		return
	}
	if in.PublishTo != nil {
		s.fail(w, r, function.ErrPublishTo)
		return
	}
	f, err := s.lookupFunction(r.Context(), r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if in.Description != nil && len(*in.Description) > 256 {
		s.fail(w, r, Errorf(Validation, "1 validation error detected: Value at 'description' failed to satisfy constraint: Member must have length less than or equal to 256"))
		return
	}
	v, created, err := s.publish(r.Context(), f.FunctionName, in)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if created {
		s.qualifierChanged(f.FunctionName)
	}
	WriteJSON(w, http.StatusCreated, v)
}

// publish publishes $LATEST of name as a new version, honouring PublishVersion's
// preconditions; when $LATEST equals the newest version it publishes nothing and returns that.
func (s *Server) publish(ctx context.Context, name string, in publishInput) (*function.Function, bool, error) {
	v, created, err := s.cfg.Store.PublishVersion(ctx, name, func(latest, newest *function.Function) (*function.Function, error) {
		if in.CodeSha256 != nil && *in.CodeSha256 != latest.CodeSha256 {
			return nil, Errorf(InvalidParameterValue, "CodeSHA256 (%s) is different from current CodeSHA256 in $LATEST (%s). Please try again with the CodeSHA256 in $LATEST.", *in.CodeSha256, latest.CodeSha256)
		}
		if in.RevisionId != nil && *in.RevisionId != latest.RevisionId {
			return nil, errRevisionMismatch
		}
		if function.SameSnapshot(newest, latest) {
			return nil, nil
		}
		desc := ""
		if in.Description != nil {
			desc = *in.Description
		}
		return latest.Snapshot(desc, time.Now(), uuid.NewString()), nil
	})
	if errors.Is(err, store.ErrNotFound) {
		err = Errorf(ResourceNotFound, "Function not found: %s", function.Arn(s.cfg.Region, s.cfg.AccountID, name))
	}
	return v, created, err
}

func (s *Server) listVersions(w http.ResponseWriter, r *http.Request) {
	f, err := s.lookupFunction(r.Context(), r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	q := r.URL.Query()
	limit, err := maxItems(q.Get("MaxItems"), maxListVersions)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	// $LATEST comes first, then the published versions in order. A page that ends right after
	// $LATEST continues from the first version: its marker is afterLatest.
	const afterLatest = "LATEST"
	out := struct {
		Versions   []*function.Function `json:"Versions"`
		NextMarker string               `json:"NextMarker,omitempty"`
	}{Versions: []*function.Function{}}
	marker := q.Get("Marker")
	if marker == "" {
		latest := f.Clone()
		latest.FunctionArn = function.QualifiedArn(latest.FunctionArn, function.Latest)
		out.Versions = append(out.Versions, latest)
		limit--
	} else if marker == afterLatest {
		marker = ""
	}
	if limit == 0 {
		if more, _, err := s.cfg.Store.ListFunctionVersions(r.Context(), f.FunctionName, store.Page{Limit: 1}); err == nil && len(more) > 0 {
			out.NextMarker = afterLatest
		}
		WriteJSON(w, http.StatusOK, out)
		return
	}
	vs, next, err := s.cfg.Store.ListFunctionVersions(r.Context(), f.FunctionName, store.Page{Marker: marker, Limit: limit})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out.Versions = append(out.Versions, vs...)
	out.NextMarker = next
	WriteJSON(w, http.StatusOK, out)
}

// maxItems parses a MaxItems query parameter (1..10000; the page is at most limit).
func maxItems(v string, limit int) (int, error) {
	if v == "" {
		return limit, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 10000 {
		return 0, Errorf(Validation, "1 validation error detected: Value '%s' at 'maxItems' failed to satisfy constraint: Member must have value between 1 and 10000", v)
	}
	return min(n, limit), nil
}

// deleteQualified is DeleteFunction with a qualifier: a published version is deleted unless an
// alias points at it; $LATEST and aliases cannot be deleted this way, as in Lambda.
func (s *Server) deleteQualified(w http.ResponseWriter, r *http.Request, f *function.Function, q string) {
	switch {
	case q == function.Latest:
		s.fail(w, r, Errorf(InvalidParameterValue, "$LATEST version cannot be deleted without deleting the function."))
		return
	case !function.IsVersion(q):
		s.fail(w, r, Errorf(InvalidParameterValue, "Deletion of aliases is not currently supported."))
		return
	}
	err := s.cfg.Store.DeleteFunctionVersion(r.Context(), f.FunctionName, q)
	var inUse *store.VersionInUseError
	switch {
	case errors.As(err, &inUse):
		err = Errorf(ResourceConflict, "Unable to delete version because the following aliases reference it: [%s]", strings.Join(inUse.Aliases, ", "))
	case errors.Is(err, store.ErrNotFound):
		err = Errorf(ResourceNotFound, "Function not found: %s", f.FunctionArn)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.removeUnusedCode(r.Context(), f.FunctionName, f.CodeDir)
	if s.cfg.VersionDeleted != nil {
		s.cfg.VersionDeleted(f.FunctionName, q)
	} else {
		s.functionChanged(f.FunctionName)
	}
	w.WriteHeader(http.StatusNoContent)
}

// versionCodeDirs lists the code directories $LATEST and the published versions of name use.
func (s *Server) versionCodeDirs(ctx context.Context, name string) ([]string, error) {
	var dirs []string
	if f, err := s.cfg.Store.GetFunction(ctx, name); err == nil {
		dirs = append(dirs, f.CodeDir)
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	marker := ""
	for {
		vs, next, err := s.cfg.Store.ListFunctionVersions(ctx, name, store.Page{Marker: marker, Limit: 1000})
		if err != nil {
			return nil, err
		}
		for _, v := range vs {
			dirs = append(dirs, v.CodeDir)
		}
		if next == "" {
			return dirs, nil
		}
		marker = next
	}
}

// removeUnusedCode deletes dir (and its zip) when neither $LATEST nor a version still uses it.
func (s *Server) removeUnusedCode(ctx context.Context, name, dir string) {
	if dir == "" {
		return
	}
	used, err := s.versionCodeDirs(ctx, name)
	if err != nil {
		s.cfg.Logger.Warn("listing function code in use", "function", name, "err", err)
		return
	}
	for _, u := range used {
		if u == dir {
			return
		}
	}
	if filepath.Dir(dir) != filepath.Join(s.codeRoot(), name) {
		return // not ours to remove
	}
	if err := errors.Join(os.RemoveAll(dir), os.Remove(dir+".zip")); err != nil && !errors.Is(err, os.ErrNotExist) {
		s.cfg.Logger.Warn("removing function code", "function", name, "err", err)
	}
}

// Provisioned concurrency is out of scope: every execution environment starts on demand. A
// configuration is refused rather than accepted and ignored; reads find none.
func (s *Server) putProvisionedConcurrency(w http.ResponseWriter, r *http.Request) {
	if _, _, err := s.lookupQualified(r.Context(), r); err != nil {
		s.fail(w, r, err)
		return
	}
	s.fail(w, r, Errorf(InvalidParameterValue, "kafkaesm does not support provisioned concurrency: execution environments start on demand. Remove ProvisionedConcurrencyConfig (or ProvisionedConcurrentExecutions) from the request."))
}

func (s *Server) getProvisionedConcurrency(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet && r.URL.Query().Get("List") == "ALL" {
		if _, err := s.lookupFunction(r.Context(), r); err != nil {
			s.fail(w, r, err)
			return
		}
		WriteJSON(w, http.StatusOK, map[string]any{"ProvisionedConcurrencyConfigs": []any{}})
		return
	}
	if _, _, err := s.lookupQualified(r.Context(), r); err != nil {
		s.fail(w, r, err)
		return
	}
	s.fail(w, r, Errorf(ProvisionedConcurrencyNotFound, "No Provisioned Concurrency Config found for this function"))
}
