package api

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/kafkaesm/kafkaesm/internal/store"
)

// Tags of mappings and functions: /2017-03-31/tags/{ARN}. SDKs escape the ARN's colons
// (arn%3Aaws%3A…); PathValue unescapes, so both forms work.
func (s *Server) tagRoutes() {
	s.handle("POST /2017-03-31/tags/{ARN}", s.tagResource)
	s.handle("GET /2017-03-31/tags/{ARN}", s.listTags)
	s.handle("DELETE /2017-03-31/tags/{ARN}", s.untagResource)
}

const maxTags = 50

func validateTags(tags map[string]string) error {
	if len(tags) > maxTags {
		return Errorf(InvalidParameterValue, "Number of tags exceeds resource tag limit of %d.", maxTags)
	}
	for k, v := range tags {
		if k == "" || len(k) > 128 {
			return Errorf(InvalidParameterValue, "Tag keys must be between 1 and 128 characters in length.")
		}
		if len(v) > 256 {
			return Errorf(InvalidParameterValue, "Tag values must be at most 256 characters in length.")
		}
		if strings.HasPrefix(strings.ToLower(k), "aws:") {
			return Errorf(InvalidParameterValue, "Tag keys cannot start with the reserved prefix 'aws:'.")
		}
	}
	return nil
}

// taggable checks that arn names an existing mapping or function of this server and returns
// the ARN under which its tags are kept (functions: unqualified).
func (s *Server) taggable(ctx context.Context, arn string) (string, error) {
	prefix := "arn:aws:lambda:" + s.cfg.Region + ":" + s.cfg.AccountID + ":"
	rest, ok := strings.CutPrefix(arn, prefix)
	if !ok {
		if strings.HasPrefix(arn, "arn:") {
			return "", Errorf(ResourceNotFound, "The resource you requested does not exist.")
		}
		return "", Errorf(Validation, "1 validation error detected: Value '%s' at 'resource' failed to satisfy constraint: Member must satisfy regular expression pattern: arn:(aws[a-zA-Z-]*):lambda:[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\\d{1}:\\d{12}:(function:[a-zA-Z0-9-_]+(:(\\$LATEST|[a-zA-Z0-9-_]+))?|code-signing-config:csc-[a-z0-9]{17}|event-source-mapping:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})", arn)
	}
	kind, id, _ := strings.Cut(rest, ":")
	switch kind {
	case "event-source-mapping":
		if _, err := s.cfg.Store.GetMapping(ctx, id); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return "", errMappingNotFound
			}
			return "", err
		}
		return arn, nil
	case "function":
		name, _, _ := strings.Cut(id, ":")
		f, err := s.cfg.Store.GetFunction(ctx, name)
		if err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return "", Errorf(ResourceNotFound, "Function not found: %s", arn)
			}
			return "", err
		}
		return f.FunctionArn, nil
	}
	return "", Errorf(ResourceNotFound, "The resource you requested does not exist.")
}

func (s *Server) tagResource(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Tags map[string]string `json:"Tags"`
	}
	if !decodeJSON(w, r, maxBody, "TagResource", &in) {
		return
	}
	arn, err := s.taggable(r.Context(), r.PathValue("ARN"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if len(in.Tags) == 0 {
		s.fail(w, r, Errorf(InvalidParameterValue, "1 validation error detected: Value null at 'tags' failed to satisfy constraint: Member must not be null."))
		return
	}
	if err := validateTags(in.Tags); err != nil {
		s.fail(w, r, err)
		return
	}
	old, err := s.cfg.Store.ListTags(r.Context(), arn)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	merged := len(old)
	for k := range in.Tags {
		if _, ok := old[k]; !ok {
			merged++
		}
	}
	if merged > maxTags {
		s.fail(w, r, Errorf(InvalidParameterValue, "Number of tags exceeds resource tag limit of %d.", maxTags))
		return
	}
	if err := s.cfg.Store.TagResource(r.Context(), arn, in.Tags); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) listTags(w http.ResponseWriter, r *http.Request) {
	arn, err := s.taggable(r.Context(), r.PathValue("ARN"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	tags, err := s.cfg.Store.ListTags(r.Context(), arn)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, map[string]any{"Tags": tags})
}

func (s *Server) untagResource(w http.ResponseWriter, r *http.Request) {
	arn, err := s.taggable(r.Context(), r.PathValue("ARN"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	keys := r.URL.Query()["tagKeys"]
	if len(keys) == 0 {
		s.fail(w, r, Errorf(InvalidParameterValue, "1 validation error detected: Value null at 'tagKeys' failed to satisfy constraint: Member must not be null."))
		return
	}
	if err := s.cfg.Store.UntagResource(r.Context(), arn, keys); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
