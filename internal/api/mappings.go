package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/kafkaesm/kafkaesm/internal/function"
	"github.com/kafkaesm/kafkaesm/internal/mapping"
	"github.com/kafkaesm/kafkaesm/internal/store"
)

// Event source mapping operations (reference §1.1).
func (s *Server) mappingRoutes() {
	s.handle("POST /2015-03-31/event-source-mappings", s.createMapping)
	s.handle("GET /2015-03-31/event-source-mappings", s.listMappings)
	s.handle("GET /2015-03-31/event-source-mappings/{UUID}", s.getMapping)
	s.handle("PUT /2015-03-31/event-source-mappings/{UUID}", s.updateMapping)
	s.handle("DELETE /2015-03-31/event-source-mappings/{UUID}", s.deleteMapping)
}

// maxListMappings is Lambda's page cap: "a maximum of 100 items in each response".
const maxListMappings = 100

var errMappingNotFound = &Error{Code: ResourceNotFound, Message: "The resource you requested does not exist."}

func (s *Server) mappingArn(id string) string {
	return "arn:aws:lambda:" + s.cfg.Region + ":" + s.cfg.AccountID + ":event-source-mapping:" + id
}

func (s *Server) mappingChanged(id string) {
	if s.cfg.MappingChanged != nil {
		s.cfg.MappingChanged(id)
	}
}

// resolveMappingFunction turns an ESM's FunctionName into the FunctionArn it stores, with the
// qualifier kept: "fn", "fn:$LATEST", "fn:N" or "fn:ALIAS", as a name or an ARN. The function
// and the version or alias named must exist now; each batch then runs what the qualifier
// resolves to when it is invoked (invoke.Functions), so an alias update moves the mapping.
func (s *Server) resolveMappingFunction(ctx context.Context, name string) (string, error) {
	ref, err := function.ParseName(name, "functionName")
	if err != nil {
		return "", err
	}
	notExist := Errorf(InvalidParameterValue, "Function does not exist")
	if !s.ownRef(ref) {
		return "", notExist
	}
	switch q := ref.Qualifier; {
	case q == "" || q == function.Latest:
		_, err = s.cfg.Store.GetFunction(ctx, ref.Name)
	case function.IsVersion(q):
		_, err = s.cfg.Store.GetFunctionVersion(ctx, ref.Name, q)
	default:
		_, err = s.cfg.Store.GetAlias(ctx, ref.Name, q)
	}
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return "", notExist
		}
		return "", err
	}
	return function.QualifiedArn(function.Arn(s.cfg.Region, s.cfg.AccountID, ref.Name), ref.Qualifier), nil
}

// ownRef reports whether an ARN-form reference names this server's region and account.
func (s *Server) ownRef(ref function.Ref) bool {
	return (ref.Region == "" || ref.Region == s.cfg.Region) && (ref.Account == "" || ref.Account == s.cfg.AccountID)
}

func (s *Server) createMapping(w http.ResponseWriter, r *http.Request) {
	var in mapping.CreateInput
	if !decodeJSON(w, r, maxBody, "CreateEventSourceMapping", &in) {
		return
	}
	name := ""
	if in.FunctionName != nil {
		name = *in.FunctionName
	}
	if _, err := function.ParseName(name, "functionName"); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := validateTags(in.Tags); err != nil {
		s.fail(w, r, err)
		return
	}
	if _, ok := s.authorizeMappingSecrets(w, r, in.SourceAccessConfigurations, nil); !ok {
		return
	}
	id := uuid.NewString()
	m, err := mapping.New(&in, mapping.Identity{UUID: id, Arn: s.mappingArn(id), Now: time.Now()})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if m.FunctionArn, err = s.resolveMappingFunction(r.Context(), name); err != nil {
		s.fail(w, r, err)
		return
	}
	err = s.cfg.Store.CreateMapping(r.Context(), m, func(others []*mapping.EventSourceMapping) error {
		for _, o := range others {
			if duplicate(o, m) {
				return Errorf(ResourceConflict, "An event source mapping with event source (\"%s\"), function (\"%s\"), topics (\"%s\") already exists. Please update or delete the existing mapping with UUID %s",
					strings.Join(m.BootstrapServers(), ","), m.FunctionArn, strings.Join(m.Topics, ","), o.UUID)
			}
		}
		return nil
	})
	if errors.Is(err, store.ErrGroupIDTaken) {
		err = Errorf(ResourceConflict, "The consumer group ID '%s' is already used by another event source mapping. ConsumerGroupId must be unique among your Kafka event source mappings.", m.GroupID())
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if len(in.Tags) > 0 {
		if err := s.cfg.Store.TagResource(r.Context(), m.EventSourceMappingArn, in.Tags); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	s.mappingChanged(m.UUID)
	WriteJSON(w, http.StatusAccepted, m)
}

// duplicate is Lambda's rule for Kafka mappings: same function, at least one common bootstrap
// server, same topic.
func duplicate(a, b *mapping.EventSourceMapping) bool {
	if a.FunctionArn != b.FunctionArn || !slices.Equal(a.Topics, b.Topics) {
		return false
	}
	for _, s := range a.BootstrapServers() {
		if slices.Contains(b.BootstrapServers(), s) {
			return true
		}
	}
	return false
}

func (s *Server) getMapping(w http.ResponseWriter, r *http.Request) {
	m, err := s.cfg.Store.GetMapping(r.Context(), r.PathValue("UUID"))
	if errors.Is(err, store.ErrNotFound) {
		err = errMappingNotFound
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.withCounts(m)
	WriteJSON(w, http.StatusOK, m)
}

// withCounts fills in the extension members KafkaesmCounts and KafkaesmPollers of a mapping
// being answered.
func (s *Server) withCounts(m *mapping.EventSourceMapping) {
	if s.cfg.MappingCounts != nil {
		if c, ok := s.cfg.MappingCounts(m.UUID); ok {
			m.KafkaesmCounts = c
		}
	}
	if s.cfg.MappingPollers != nil {
		if p, ok := s.cfg.MappingPollers(m.UUID); ok {
			m.KafkaesmPollers = p
		}
	}
}

func (s *Server) listMappings(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit := maxListMappings
	if v := q.Get("MaxItems"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			s.fail(w, r, Errorf(InvalidParameterValue, "MaxItems must be an integer, got '%s'.", v))
			return
		}
		if n < 1 || n > 10000 {
			s.fail(w, r, Errorf(Validation, "1 validation error detected: Value '%d' at 'maxItems' failed to satisfy constraint: Member must have value %s", n, rangeWord(n, 1, 10000)))
			return
		}
		limit = min(n, maxListMappings)
	}
	var f store.MappingFilter
	if name := q.Get("FunctionName"); name != "" {
		ref, err := function.ParseName(name, "functionName")
		if err != nil {
			s.fail(w, r, err)
			return
		}
		f.FunctionArn = function.Arn(s.cfg.Region, s.cfg.AccountID, ref.Name)
		if ref.Qualifier != "" {
			f.FunctionArn += ":" + ref.Qualifier
		}
	}
	out := struct {
		EventSourceMappings []*mapping.EventSourceMapping `json:"EventSourceMappings"`
		NextMarker          string                        `json:"NextMarker,omitempty"`
	}{EventSourceMappings: []*mapping.EventSourceMapping{}}
	// Self-managed Kafka mappings have no EventSourceArn: a filter on one matches nothing.
	if q.Get("EventSourceArn") == "" {
		ms, next, err := s.cfg.Store.ListMappings(r.Context(), f, store.Page{Marker: q.Get("Marker"), Limit: limit})
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if ms != nil {
			out.EventSourceMappings = ms
		}
		for _, m := range ms {
			s.withCounts(m)
		}
		out.NextMarker = next
	}
	WriteJSON(w, http.StatusOK, out)
}

func rangeWord(v, lo, hi int) string {
	if v < lo {
		return fmt.Sprintf("greater than or equal to %d", lo)
	}
	return fmt.Sprintf("less than or equal to %d", hi)
}

func (s *Server) updateMapping(w http.ResponseWriter, r *http.Request) {
	var in mapping.UpdateInput
	if !decodeJSON(w, r, maxBody, "UpdateEventSourceMapping", &in) {
		return
	}
	id := r.PathValue("UUID")
	old, err := s.cfg.Store.GetMapping(r.Context(), id)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			err = errMappingNotFound
		}
		s.fail(w, r, err)
		return
	}
	unjudged, ok := s.authorizeMappingSecrets(w, r, in.SourceAccessConfigurations, old.SourceAccessConfigurations)
	if !ok {
		return
	}
	fnArn := ""
	if in.FunctionName != nil {
		var err error
		if fnArn, err = s.resolveMappingFunction(r.Context(), *in.FunctionName); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	if fnArn != "" {
		if err := s.checkRetarget(r.Context(), id, fnArn); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	m, err := s.cfg.Store.UpdateMapping(r.Context(), id, func(m *mapping.EventSourceMapping) error {
		for _, c := range unjudged {
			if !slices.Contains(m.SourceAccessConfigurations, c) {
				// Removed since it was read: it would be added now, unjudged.
				return Errorf(ResourceConflict, "The event source mapping's SourceAccessConfigurations changed while it was being updated. Retry the update.")
			}
		}
		next := m.Clone()
		if err := next.ApplyUpdate(&in, fnArn, time.Now()); err != nil {
			return err
		}
		*m = *next
		return nil
	})
	switch {
	case errors.Is(err, store.ErrNotFound):
		err = errMappingNotFound
	case errors.Is(err, store.ErrGroupIDTaken):
		err = Errorf(ResourceConflict, "The consumer group ID is already used by another event source mapping.")
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.mappingChanged(id)
	WriteJSON(w, http.StatusAccepted, m)
}

func (s *Server) deleteMapping(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("UUID")
	m, err := s.cfg.Store.UpdateMapping(r.Context(), id, func(m *mapping.EventSourceMapping) error {
		if err := m.CanDelete(); err != nil {
			return err
		}
		m.State = mapping.StateDeleting
		m.StateTransitionReason = mapping.ReasonUserInitiated
		m.LastModified = mapping.EpochTime{Time: time.Now().Truncate(time.Millisecond).UTC()}
		m.Revision++
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		err = errMappingNotFound
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.mappingChanged(id)
	WriteJSON(w, http.StatusAccepted, m)
}

// checkRetarget applies the duplicate rule when an update points mapping id at another
// function. Unlike Create this check is not atomic with the write: two racing retargets can
// both pass. Acceptable for a rare operation: a duplicate wastes work but loses nothing, since
// each mapping has its own consumer group.
func (s *Server) checkRetarget(ctx context.Context, id, fnArn string) error {
	cur, err := s.cfg.Store.GetMapping(ctx, id)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return errMappingNotFound
		}
		return err
	}
	if cur.FunctionArn == fnArn {
		return nil
	}
	next := cur.Clone()
	next.FunctionArn = fnArn
	marker := ""
	for {
		ms, nm, err := s.cfg.Store.ListMappings(ctx, store.MappingFilter{FunctionArn: fnArn}, store.Page{Marker: marker, Limit: 100})
		if err != nil {
			return err
		}
		for _, o := range ms {
			if o.UUID != id && duplicate(o, next) {
				return Errorf(ResourceConflict, "An event source mapping with event source (\"%s\"), function (\"%s\"), topics (\"%s\") already exists. Please update or delete the existing mapping with UUID %s",
					strings.Join(next.BootstrapServers(), ","), fnArn, strings.Join(next.Topics, ","), o.UUID)
			}
		}
		if nm == "" {
			return nil
		}
		marker = nm
	}
}
