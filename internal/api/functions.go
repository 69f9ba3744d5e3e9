package api

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"path/filepath"
	"time"

	"github.com/google/uuid"

	"github.com/kafkaesm/kafkaesm/internal/function"
	"github.com/kafkaesm/kafkaesm/internal/store"
)

// The function registry (control plane only; internal/invoke runs functions and serves Invoke).
// Paths and status codes are aws-sdk-go-v2/service/lambda's.
func (s *Server) functionRoutes() {
	s.handle("POST /2015-03-31/functions", s.createFunction)
	s.handle("GET /2015-03-31/functions", s.listFunctions)
	s.handle("GET /2015-03-31/functions/{FunctionName}", s.getFunction)
	s.handle("DELETE /2015-03-31/functions/{FunctionName}", s.deleteFunction)
	s.handle("GET /2015-03-31/functions/{FunctionName}/configuration", s.getFunctionConfiguration)
	s.handle("PUT /2015-03-31/functions/{FunctionName}/configuration", s.updateFunctionConfiguration)
	s.handle("PUT /2015-03-31/functions/{FunctionName}/code", s.updateFunctionCode)
	s.handle("PUT /2017-10-31/functions/{FunctionName}/concurrency", s.putFunctionConcurrency)
	s.handle("GET /2019-09-30/functions/{FunctionName}/concurrency", s.getFunctionConcurrency)
	s.handle("DELETE /2017-10-31/functions/{FunctionName}/concurrency", s.deleteFunctionConcurrency)
	// GetFunction's Code.Location: the uploaded zip, served back.
	s.handle("GET /kafkaesm/functions/{FunctionName}/code/{Sha}", s.getFunctionZip)
	s.versionRoutes()
	s.aliasRoutes()
}

// maxListFunctions is Lambda's ListFunctions page cap.
const maxListFunctions = 50

func (s *Server) codeRoot() string { return filepath.Join(s.cfg.DataDir, "functions") }

func (s *Server) functionChanged(name string) {
	if s.cfg.FunctionChanged != nil {
		s.cfg.FunctionChanged(name)
	}
}

// lookupFunction resolves the {FunctionName} of an operation on the function itself ($LATEST:
// updates, concurrency, PublishVersion, aliases), with the Qualifier query parameter; any
// qualifier other than $LATEST is not found. Reads that take a version or an alias use
// lookupQualified.
func (s *Server) lookupFunction(ctx context.Context, r *http.Request) (*function.Function, error) {
	raw := r.PathValue("FunctionName")
	ref, err := function.ParseName(raw, "functionName")
	if err != nil {
		return nil, err
	}
	q := ref.Qualifier
	if qq := r.URL.Query().Get("Qualifier"); qq != "" {
		q = qq
	}
	arn := function.Arn(s.cfg.Region, s.cfg.AccountID, ref.Name)
	notFound := func() error {
		a := arn
		if q != "" {
			a += ":" + q
		}
		return Errorf(ResourceNotFound, "Function not found: %s", a)
	}
	if !s.ownRef(ref) || (q != "" && q != "$LATEST") {
		return nil, notFound()
	}
	f, err := s.cfg.Store.GetFunction(ctx, ref.Name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound()
	}
	return f, err
}

func (s *Server) createFunction(w http.ResponseWriter, r *http.Request) {
	var in function.CreateInput
	if !decodeJSON(w, r, maxCodeBody, "CreateFunction", &in) {
		return
	}
	if in.PublishTo != nil {
		s.fail(w, r, function.ErrPublishTo)
		return
	}
	// FunctionName may be a full or partial ARN: judged as the function it creates.
	ref, err := function.ParseName(deref(in.FunctionName), "functionName")
	if err == nil && !s.ownRef(ref) {
		err = Errorf(InvalidParameterValue, "FunctionName %s names another region or account than this server's (%s, %s).", deref(in.FunctionName), s.cfg.Region, s.cfg.AccountID)
	}
	if err != nil {
		if deref(in.FunctionName) == "" {
			_, err = function.New(&in, function.Identity{}) // Lambda's words for a missing name
		}
		s.fail(w, r, err)
		return
	}
	if !s.authorizeResource(w, r, s.functionResource(ref, "")) {
		return
	}
	f, err := function.New(&in, function.Identity{Now: time.Now(), RevisionId: uuid.NewString()})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	f.FunctionArn = function.Arn(s.cfg.Region, s.cfg.AccountID, f.FunctionName)
	if err := validateTags(in.Tags); err != nil {
		s.fail(w, r, err)
		return
	}
	exists := func() error { return Errorf(ResourceConflict, "Function already exist: %s", f.FunctionName) }
	unlock := s.code.Lock(f.FunctionName) // until the function and its code are both there, or neither
	defer unlock()
	if _, err := s.cfg.Store.GetFunction(r.Context(), f.FunctionName); err == nil {
		s.fail(w, r, exists())
		return
	}
	var code function.Installed
	if in.Code != nil && in.Code.ZipFile != nil {
		if code, err = s.installCode(f, in.Code.ZipFile); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	f.LastUpdateStatus = "Successful"
	if err := s.cfg.Store.CreateFunction(r.Context(), f); err != nil {
		s.code.Discard(f.FunctionName, code)
		if errors.Is(err, store.ErrExists) {
			err = exists()
		}
		s.fail(w, r, err)
		return
	}
	if len(in.Tags) > 0 {
		if err := s.cfg.Store.TagResource(r.Context(), f.FunctionArn, in.Tags); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	s.functionChanged(f.FunctionName)
	if in.Publish != nil && *in.Publish {
		v, _, err := s.publish(r.Context(), f.FunctionName, publishInput{})
		if err != nil {
			s.fail(w, r, err)
			return
		}
		s.qualifierChanged(f.FunctionName)
		f = v
	}
	WriteJSON(w, http.StatusCreated, f)
}

// installCode checks zip for f's runtime and the node's code quota, unpacks it to
// data-dir/functions/NAME/HEXSHA and keeps the zip next to it (HEXSHA.zip) for GetFunction's
// Code.Location. The caller holds s.code.Lock(f.FunctionName) and discards the code when the
// change it is for is not recorded.
func (s *Server) installCode(f *function.Function, zip []byte) (function.Installed, error) {
	in, err := s.code.Install(f.FunctionName, f.Runtime, zip)
	if err != nil {
		return in, err
	}
	f.CodeSha256, f.CodeSize, f.CodeDir = in.Info.Sha256, in.Info.Size, in.Dir
	return in, nil
}

func (s *Server) listFunctions(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	// FunctionVersion=ALL would list every published version too: not implemented, so refused
	// rather than answered with $LATEST only.
	if q.Has("FunctionVersion") {
		if v := q.Get("FunctionVersion"); v != "ALL" {
			s.fail(w, r, Errorf(Validation, "1 validation error detected: Value '%s' at 'functionVersion' failed to satisfy constraint: Member must satisfy enum value set: [ALL]", v))
			return
		}
		s.fail(w, r, Errorf(InvalidParameterValue, "kafkaesm does not list versions in ListFunctions (FunctionVersion=ALL): use ListVersionsByFunction for each function."))
		return
	}
	limit, err := maxItems(q.Get("MaxItems"), maxListFunctions)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	fs, next, err := s.cfg.Store.ListFunctions(r.Context(), store.Page{Marker: q.Get("Marker"), Limit: limit})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := struct {
		Functions  []*function.Function `json:"Functions"`
		NextMarker string               `json:"NextMarker,omitempty"`
	}{Functions: []*function.Function{}, NextMarker: next}
	if fs != nil {
		out.Functions = fs
	}
	WriteJSON(w, http.StatusOK, out)
}

func (s *Server) getFunction(w http.ResponseWriter, r *http.Request) {
	f, q, err := s.lookupQualified(r.Context(), r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := map[string]any{"Configuration": f}
	if f.CodeSha256 != "" {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		loc := scheme + "://" + r.Host + "/kafkaesm/functions/" + f.FunctionName + "/code/" + filepath.Base(f.CodeDir) + ".zip"
		if q != "" {
			loc += "?Qualifier=" + url.QueryEscape(q)
		}
		if p := PrincipalFrom(r.Context()); p != nil {
			// Presigned with the caller's key for 10 minutes, as AWS's S3 URL.
			if loc, err = presignGET(p, s.cfg.Region, loc, time.Now(), 10*time.Minute); err != nil {
				s.fail(w, r, err)
				return
			}
		}
		out["Code"] = map[string]string{"RepositoryType": "S3", "Location": loc}
	}
	if f.ReservedConcurrentExecutions != nil {
		out["Concurrency"] = map[string]int{"ReservedConcurrentExecutions": *f.ReservedConcurrentExecutions}
	}
	tags, err := s.cfg.Store.ListTags(r.Context(), function.UnqualifiedArn(f.FunctionArn))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if len(tags) > 0 {
		out["Tags"] = tags
	}
	WriteJSON(w, http.StatusOK, out)
}

func (s *Server) getFunctionZip(w http.ResponseWriter, r *http.Request) {
	f, _, err := s.lookupQualified(r.Context(), r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if r.PathValue("Sha") != filepath.Base(f.CodeDir)+".zip" {
		s.fail(w, r, Errorf(ResourceNotFound, "The code archive you requested does not exist."))
		return
	}
	w.Header().Set("Content-Type", "application/zip")
	http.ServeFile(w, r, f.CodeDir+".zip")
}

func (s *Server) getFunctionConfiguration(w http.ResponseWriter, r *http.Request) {
	f, _, err := s.lookupQualified(r.Context(), r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, f)
}

func (s *Server) deleteFunction(w http.ResponseWriter, r *http.Request) {
	if ref, err := function.ParseName(r.PathValue("FunctionName"), "functionName"); err == nil {
		defer s.code.Lock(ref.Name)() // an update of its code waits, then finds no function
	}
	f, q, err := s.lookupQualified(r.Context(), r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if q != "" {
		s.deleteQualified(w, r, f, q)
		return
	}
	if err := s.cfg.Store.DeleteFunction(r.Context(), f.FunctionName); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			err = Errorf(ResourceNotFound, "Function not found: %s", f.FunctionArn)
		}
		s.fail(w, r, err)
		return
	}
	// Mappings on the function are kept, as in Lambda (their invocations fail until a function
	// of that name exists again).
	if err := s.code.RemoveFunction(f.FunctionName); err != nil {
		s.cfg.Logger.Warn("removing function code", "function", f.FunctionName, "err", err)
	}
	s.functionChanged(f.FunctionName)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) updateFunctionConfiguration(w http.ResponseWriter, r *http.Request) {
	var in function.UpdateConfigInput
	if !decodeJSON(w, r, maxBody, "UpdateFunctionConfiguration", &in) {
		return
	}
	f, err := s.lookupFunction(r.Context(), r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	f, err = s.cfg.Store.UpdateFunction(r.Context(), f.FunctionName, func(cur *function.Function) error {
		next := cur.Clone()
		if err := next.ApplyConfig(&in, time.Now(), uuid.NewString()); err != nil {
			return err
		}
		*cur = *next
		return nil
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.latestChanged(f.FunctionName)
	WriteJSON(w, http.StatusOK, f)
}

func (s *Server) updateFunctionCode(w http.ResponseWriter, r *http.Request) {
	var in function.UpdateCodeInput
	if !decodeJSON(w, r, maxCodeBody, "UpdateFunctionCode", &in) {
		return
	}
	if in.PublishTo != nil {
		s.fail(w, r, function.ErrPublishTo)
		return
	}
	// Read, install and record under the function's code lock: a DeleteFunction running at the
	// same time either completes first (this update then finds no function) or waits.
	if ref, err := function.ParseName(r.PathValue("FunctionName"), "functionName"); err == nil {
		defer s.code.Lock(ref.Name)()
	}
	f, err := s.lookupFunction(r.Context(), r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if in.ZipFile == nil {
		if in.S3Bucket != nil || in.ImageUri != nil {
			s.fail(w, r, Errorf(InvalidParameterValue, "kafkaesm accepts function code as ZipFile only (S3 and container images are not supported)."))
			return
		}
		s.fail(w, r, Errorf(InvalidParameterValue, "Please provide a source for function code."))
		return
	}
	if in.RevisionId != nil && *in.RevisionId != f.RevisionId {
		s.fail(w, r, errRevisionMismatch)
		return
	}
	next := f.Clone()
	code, err := s.installCode(next, in.ZipFile)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if in.DryRun != nil && *in.DryRun {
		s.code.Discard(f.FunctionName, code) // checked and unpacked; nothing stays
		WriteJSON(w, http.StatusOK, next)
		return
	}
	prev := f.CodeDir
	f, err = s.cfg.Store.UpdateFunction(r.Context(), f.FunctionName, func(cur *function.Function) error {
		if in.RevisionId != nil && *in.RevisionId != cur.RevisionId {
			return function.ErrRevisionMismatch
		}
		cur.CodeSha256, cur.CodeSize, cur.CodeDir = next.CodeSha256, next.CodeSize, next.CodeDir
		cur.LastModified = time.Now().UTC().Format(function.LastModifiedLayout)
		cur.RevisionId = uuid.NewString()
		cur.LastUpdateStatus = "Successful"
		return nil
	})
	if err != nil {
		s.code.Discard(f.FunctionName, code)
		if errors.Is(err, store.ErrNotFound) {
			err = Errorf(ResourceNotFound, "Function not found: %s", function.Arn(s.cfg.Region, s.cfg.AccountID, next.FunctionName))
		}
		s.fail(w, r, err)
		return
	}
	// Keep the previous code a while (environments running it are retired by the invoker) and
	// the code of every published version for as long as the version exists.
	if keep, err := s.versionCodeDirs(r.Context(), f.FunctionName); err != nil {
		s.cfg.Logger.Warn("listing function code in use", "function", f.FunctionName, "err", err)
	} else if err := function.RemoveOldCode(s.codeRoot(), f.FunctionName, append(keep, f.CodeDir, prev)...); err != nil {
		s.cfg.Logger.Warn("removing old function code", "function", f.FunctionName, "err", err)
	}
	s.latestChanged(f.FunctionName)
	if in.Publish != nil && *in.Publish {
		v, _, err := s.publish(r.Context(), f.FunctionName, publishInput{CodeSha256: &f.CodeSha256})
		if err != nil {
			s.fail(w, r, err)
			return
		}
		s.qualifierChanged(f.FunctionName)
		f = v
	}
	WriteJSON(w, http.StatusOK, f)
}

func (s *Server) putFunctionConcurrency(w http.ResponseWriter, r *http.Request) {
	var in struct {
		ReservedConcurrentExecutions *int `json:"ReservedConcurrentExecutions"`
	}
	if !decodeJSON(w, r, maxBody, "PutFunctionConcurrency", &in) {
		return
	}
	n := in.ReservedConcurrentExecutions
	if n == nil {
		s.fail(w, r, Errorf(Validation, "1 validation error detected: Value null at 'reservedConcurrentExecutions' failed to satisfy constraint: Member must not be null."))
		return
	}
	if *n < 0 {
		s.fail(w, r, Errorf(Validation, "1 validation error detected: Value '%d' at 'reservedConcurrentExecutions' failed to satisfy constraint: Member must have value greater than or equal to 0", *n))
		return
	}
	f, err := s.lookupFunction(r.Context(), r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if _, err := s.cfg.Store.UpdateFunction(r.Context(), f.FunctionName, func(cur *function.Function) error {
		v := *n
		cur.ReservedConcurrentExecutions = &v
		return nil
	}); err != nil {
		s.fail(w, r, err)
		return
	}
	s.latestChanged(f.FunctionName)
	WriteJSON(w, http.StatusOK, map[string]int{"ReservedConcurrentExecutions": *n})
}

func (s *Server) getFunctionConcurrency(w http.ResponseWriter, r *http.Request) {
	f, err := s.lookupFunction(r.Context(), r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := map[string]int{}
	if f.ReservedConcurrentExecutions != nil {
		out["ReservedConcurrentExecutions"] = *f.ReservedConcurrentExecutions
	}
	WriteJSON(w, http.StatusOK, out)
}

func (s *Server) deleteFunctionConcurrency(w http.ResponseWriter, r *http.Request) {
	f, err := s.lookupFunction(r.Context(), r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if _, err := s.cfg.Store.UpdateFunction(r.Context(), f.FunctionName, func(cur *function.Function) error {
		cur.ReservedConcurrentExecutions = nil
		return nil
	}); err != nil {
		s.fail(w, r, err)
		return
	}
	s.latestChanged(f.FunctionName)
	w.WriteHeader(http.StatusNoContent)
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
