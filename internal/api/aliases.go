package api

import (
	"errors"
	"net/http"

	"github.com/google/uuid"

	"github.com/kafkaesm/kafkaesm/internal/function"
	"github.com/kafkaesm/kafkaesm/internal/store"
)

// Function aliases: CreateAlias, GetAlias, UpdateAlias, DeleteAlias, ListAliases.
func (s *Server) aliasRoutes() {
	s.handle("POST /2015-03-31/functions/{FunctionName}/aliases", s.createAlias)
	s.handle("GET /2015-03-31/functions/{FunctionName}/aliases", s.listAliases)
	s.handle("GET /2015-03-31/functions/{FunctionName}/aliases/{Name}", s.getAlias)
	s.handle("PUT /2015-03-31/functions/{FunctionName}/aliases/{Name}", s.updateAlias)
	s.handle("DELETE /2015-03-31/functions/{FunctionName}/aliases/{Name}", s.deleteAlias)
}

// maxListAliases is Lambda's ListAliases page cap.
const maxListAliases = 50

func (s *Server) aliasArn(fn, alias string) string {
	return function.QualifiedArn(function.Arn(s.cfg.Region, s.cfg.AccountID, fn), alias)
}

// aliasStoreError turns the store's alias errors into Lambda's.
func (s *Server) aliasStoreError(fn, alias string, err error) error {
	var missing *store.MissingVersionError
	switch {
	case errors.As(err, &missing):
		return Errorf(ResourceNotFound, "Function not found: %s", s.aliasArn(fn, missing.Version))
	case errors.Is(err, store.ErrExists):
		return Errorf(ResourceConflict, "Alias already exists: %s", s.aliasArn(fn, alias))
	case errors.Is(err, store.ErrNotFound):
		return Errorf(ResourceNotFound, "Alias not found: %s", s.aliasArn(fn, alias))
	}
	return err
}

func validateAliasMembers(in *function.AliasInput, version string) error {
	if in.Description != nil && len(*in.Description) > 256 {
		return Errorf(Validation, "1 validation error detected: Value at 'description' failed to satisfy constraint: Member must have length less than or equal to 256")
	}
	if err := function.ValidateAliasVersion(version); err != nil {
		return err
	}
	return nil
}

// applyAliasInput sets the members in gives (an empty RoutingConfig clears the routing) on a
// and checks the routing against a's version.
func applyAliasInput(a *function.Alias, in *function.AliasInput) error {
	if in.FunctionVersion != nil {
		a.FunctionVersion = *in.FunctionVersion
	}
	if in.Description != nil {
		a.Description = *in.Description
	}
	if in.RoutingConfig != nil {
		a.RoutingConfig = nil
		if len(in.RoutingConfig.AdditionalVersionWeights) > 0 {
			a.RoutingConfig = in.RoutingConfig
		}
	}
	return function.ValidateRouting(a.RoutingConfig, a.FunctionVersion)
}

func (s *Server) createAlias(w http.ResponseWriter, r *http.Request) {
	var in function.AliasInput
	if !decodeJSON(w, r, maxBody, "CreateAlias", &in) {
		return
	}
	name, version := "", ""
	if in.Name != nil {
		name = *in.Name
	}
	if in.FunctionVersion != nil {
		version = *in.FunctionVersion
	}
	if err := function.ValidateAliasName(name); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := validateAliasMembers(&in, version); err != nil {
		s.fail(w, r, err)
		return
	}
	f, err := s.lookupFunction(r.Context(), r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	a := &function.Alias{AliasArn: s.aliasArn(f.FunctionName, name), Name: name, FunctionVersion: version, RevisionId: uuid.NewString()}
	if err := applyAliasInput(a, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.cfg.Store.CreateAlias(r.Context(), f.FunctionName, a); err != nil {
		s.fail(w, r, s.aliasStoreError(f.FunctionName, name, err))
		return
	}
	s.qualifierChanged(f.FunctionName)
	WriteJSON(w, http.StatusCreated, a)
}

func (s *Server) getAlias(w http.ResponseWriter, r *http.Request) {
	f, err := s.lookupFunction(r.Context(), r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	name := r.PathValue("Name")
	a, err := s.cfg.Store.GetAlias(r.Context(), f.FunctionName, name)
	if err != nil {
		s.fail(w, r, s.aliasStoreError(f.FunctionName, name, err))
		return
	}
	WriteJSON(w, http.StatusOK, a)
}

func (s *Server) updateAlias(w http.ResponseWriter, r *http.Request) {
	var in function.AliasInput
	if !decodeJSON(w, r, maxBody, "UpdateAlias", &in) {
		return
	}
	version := function.Latest
	if in.FunctionVersion != nil {
		version = *in.FunctionVersion
	}
	if err := validateAliasMembers(&in, version); err != nil {
		s.fail(w, r, err)
		return
	}
	f, err := s.lookupFunction(r.Context(), r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	name := r.PathValue("Name")
	a, err := s.cfg.Store.UpdateAlias(r.Context(), f.FunctionName, name, func(a *function.Alias) error {
		if in.RevisionId != nil && *in.RevisionId != a.RevisionId {
			return errRevisionMismatch
		}
		if err := applyAliasInput(a, &in); err != nil {
			return err
		}
		a.RevisionId = uuid.NewString()
		return nil
	})
	if err != nil {
		s.fail(w, r, s.aliasStoreError(f.FunctionName, name, err))
		return
	}
	s.qualifierChanged(f.FunctionName)
	WriteJSON(w, http.StatusOK, a)
}

// deleteAlias deletes an alias even when event source mappings use it, as Lambda does: their
// invocations then fail with function-not-found until the alias exists again.
func (s *Server) deleteAlias(w http.ResponseWriter, r *http.Request) {
	f, err := s.lookupFunction(r.Context(), r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	name := r.PathValue("Name")
	if err := s.cfg.Store.DeleteAlias(r.Context(), f.FunctionName, name); err != nil {
		s.fail(w, r, s.aliasStoreError(f.FunctionName, name, err))
		return
	}
	s.qualifierChanged(f.FunctionName)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) listAliases(w http.ResponseWriter, r *http.Request) {
	f, err := s.lookupFunction(r.Context(), r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	q := r.URL.Query()
	limit, err := maxItems(q.Get("MaxItems"), maxListAliases)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	version := q.Get("FunctionVersion")
	if version != "" {
		if err := function.ValidateAliasVersion(version); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	as, next, err := s.cfg.Store.ListAliases(r.Context(), f.FunctionName, version, store.Page{Marker: q.Get("Marker"), Limit: limit})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := struct {
		Aliases    []*function.Alias `json:"Aliases"`
		NextMarker string            `json:"NextMarker,omitempty"`
	}{Aliases: []*function.Alias{}, NextMarker: next}
	if as != nil {
		out.Aliases = as
	}
	WriteJSON(w, http.StatusOK, out)
}
