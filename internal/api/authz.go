package api

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/kafkaesm/kafkaesm/internal/function"
	"github.com/kafkaesm/kafkaesm/internal/iam"
	"github.com/kafkaesm/kafkaesm/internal/mapping"
)

// Authorisation and audit. Every route is registered with its IAM action (routeActions), so
// that one wrapper (authorize) decides, before the handler runs, whether the request's
// principal may perform the action on the resource the request names, and logs one audit line
// for every call that changes state and every GetSecretValue. Without authentication (dev,
// --no-auth) nothing is denied, and the audit names the principal "anonymous".

// routeActions maps each route pattern to its IAM action, as AWS names them (kafkaesm's own:
// kafkaesm:GetMetrics).
var routeActions = map[string]string{
	"GET /metrics":                                                        "kafkaesm:GetMetrics",
	"POST /2015-03-31/functions":                                          "lambda:CreateFunction",
	"GET /2015-03-31/functions":                                           "lambda:ListFunctions",
	"GET /2015-03-31/functions/{FunctionName}":                            "lambda:GetFunction",
	"DELETE /2015-03-31/functions/{FunctionName}":                         "lambda:DeleteFunction",
	"GET /2015-03-31/functions/{FunctionName}/configuration":              "lambda:GetFunctionConfiguration",
	"PUT /2015-03-31/functions/{FunctionName}/configuration":              "lambda:UpdateFunctionConfiguration",
	"PUT /2015-03-31/functions/{FunctionName}/code":                       "lambda:UpdateFunctionCode",
	"PUT /2017-10-31/functions/{FunctionName}/concurrency":                "lambda:PutFunctionConcurrency",
	"GET /2019-09-30/functions/{FunctionName}/concurrency":                "lambda:GetFunctionConcurrency",
	"DELETE /2017-10-31/functions/{FunctionName}/concurrency":             "lambda:DeleteFunctionConcurrency",
	"GET /kafkaesm/functions/{FunctionName}/code/{Sha}":                   "lambda:GetFunction",
	"POST /2015-03-31/functions/{FunctionName}/invocations":               "lambda:InvokeFunction",
	"POST /2015-03-31/functions/{FunctionName}/versions":                  "lambda:PublishVersion",
	"GET /2015-03-31/functions/{FunctionName}/versions":                   "lambda:ListVersionsByFunction",
	"POST /2015-03-31/functions/{FunctionName}/aliases":                   "lambda:CreateAlias",
	"GET /2015-03-31/functions/{FunctionName}/aliases":                    "lambda:ListAliases",
	"GET /2015-03-31/functions/{FunctionName}/aliases/{Name}":             "lambda:GetAlias",
	"PUT /2015-03-31/functions/{FunctionName}/aliases/{Name}":             "lambda:UpdateAlias",
	"DELETE /2015-03-31/functions/{FunctionName}/aliases/{Name}":          "lambda:DeleteAlias",
	"PUT /2019-09-30/functions/{FunctionName}/provisioned-concurrency":    "lambda:PutProvisionedConcurrencyConfig",
	"GET /2019-09-30/functions/{FunctionName}/provisioned-concurrency":    "lambda:GetProvisionedConcurrencyConfig",
	"DELETE /2019-09-30/functions/{FunctionName}/provisioned-concurrency": "lambda:DeleteProvisionedConcurrencyConfig",
	"POST /2015-03-31/event-source-mappings":                              "lambda:CreateEventSourceMapping",
	"GET /2015-03-31/event-source-mappings":                               "lambda:ListEventSourceMappings",
	"GET /2015-03-31/event-source-mappings/{UUID}":                        "lambda:GetEventSourceMapping",
	"PUT /2015-03-31/event-source-mappings/{UUID}":                        "lambda:UpdateEventSourceMapping",
	"DELETE /2015-03-31/event-source-mappings/{UUID}":                     "lambda:DeleteEventSourceMapping",
	"POST /2017-03-31/tags/{ARN}":                                         "lambda:TagResource",
	"GET /2017-03-31/tags/{ARN}":                                          "lambda:ListTags",
	"DELETE /2017-03-31/tags/{ARN}":                                       "lambda:UntagResource",
}

// actionFor is the IAM action of a route pattern; a route without one is refused to every
// principal with a policy (and logged), so that a route added without an action fails closed.
func actionFor(pattern string) string {
	if a, ok := routeActions[pattern]; ok {
		return a
	}
	return "kafkaesm:Unmapped"
}

// lambdaResource is the ARN a Lambda request acts on, as IAM sees it: the function (qualified
// when the request names a qualifier), the mapping, the tagged resource, or a wildcard ARN for
// calls that list or create mappings.
func (s *Server) lambdaResource(r *http.Request) string {
	prefix := "arn:aws:lambda:" + s.cfg.Region + ":" + s.cfg.AccountID + ":"
	if fn := r.PathValue("FunctionName"); fn != "" {
		// Parsed with Invoke's 170-character limit, the longest any operation takes: an ARN
		// with a long alias must be seen as its function, or a Deny on it would not apply.
		ref, err := function.ParseInvokeName(fn)
		if err != nil {
			// Not a function name: no policy naming functions may match it (the handler
			// refuses it anyway). Fail closed rather than build an ARN from client text.
			return prefix + "function:(invalid)"
		}
		q := ref.Qualifier
		if rq := r.URL.Query().Get("Qualifier"); rq != "" {
			q = rq
		}
		if a := r.PathValue("Name"); a != "" && strings.Contains(r.Pattern, "/aliases/") {
			q = a
		}
		return s.functionResource(ref, q)
	}
	if u := r.PathValue("UUID"); u != "" {
		return s.mappingArn(u)
	}
	if a := r.PathValue("ARN"); a != "" {
		if un, err := url.PathUnescape(a); err == nil {
			a = un
		}
		// A function's tags live on the function: TagResource on fn:1 or fn:live tags fn
		// (taggable), so fn is what a policy judges.
		if rest, ok := strings.CutPrefix(a, prefix+"function:"); ok {
			name, _, _ := strings.Cut(rest, ":")
			return prefix + "function:" + name
		}
		return a
	}
	if strings.Contains(r.URL.Path, "event-source-mappings") {
		return prefix + "event-source-mapping:*"
	}
	if r.Method == http.MethodPost {
		return "" // CreateFunction: decided by the handler once it read FunctionName
	}
	return "*"
}

// functionResource is the ARN of the function ref names, with qualifier q when not empty. An
// ARN of another region or account is judged as written.
func (s *Server) functionResource(ref function.Ref, q string) string {
	region, account := s.cfg.Region, s.cfg.AccountID
	if ref.Region != "" {
		region = ref.Region
	}
	if ref.Account != "" {
		account = ref.Account
	}
	return function.QualifiedArn(function.Arn(region, account, ref.Name), q)
}

// call is what the audit log records of one request; handlers that learn the resource only
// from the body (CreateFunction) refine it.
type call struct {
	principal *iam.Principal
	action    string
	resource  string
}

type callKey struct{}

// authorize wraps a route's handler with the authorisation decision and the audit line.
// A nil resource with the action "secretsmanager:" reads both from the request (secretsCall).
func (s *Server) authorize(action string, resource func(*http.Request) string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := &call{principal: PrincipalFrom(r.Context()), action: action}
		if resource == nil {
			c.action, c.resource = s.secretsCall(r)
		} else {
			c.resource = resource(r)
		}
		audited := auditedAction(r.Method, c.action)
		if c.resource == "" { // the handler decides (authorizeResource)
			if !audited {
				h.ServeHTTP(w, r.WithContext(contextWithCall(r, c)))
				return
			}
		} else if err := s.decide(c); err != nil {
			if audited || c.principal != nil {
				s.audit(w, r, c, http.StatusForbidden, string(AccessDenied))
			}
			writeProtoError(w, r, err)
			return
		}
		if !audited {
			h.ServeHTTP(w, r)
			return
		}
		sw := &statusWriter{ResponseWriter: w}
		h.ServeHTTP(sw, r.WithContext(contextWithCall(r, c)))
		s.audit(w, r, c, sw.code(), w.Header().Get("X-Amzn-ErrorType"))
	})
}

// decide applies the principal's policy; AccessDeniedException in AWS's words when it denies.
func (s *Server) decide(c *call) *Error {
	if c.principal == nil {
		return nil // no authentication configured
	}
	switch c.principal.Decide(c.action, c.resource) {
	case iam.Allow:
		return nil
	case iam.ExplicitDeny:
		return Errorf(AccessDenied, "User: %s is not authorized to perform: %s on resource: %s with an explicit deny in an identity-based policy",
			c.principal.ARN(s.cfg.AccountID), c.action, c.resource)
	default:
		return Errorf(AccessDenied, "User: %s is not authorized to perform: %s on resource: %s because no identity-based policy allows the %s action",
			c.principal.ARN(s.cfg.AccountID), c.action, c.resource, c.action)
	}
}

// authorizeResource re-decides for a resource the handler found in the body (CreateFunction's
// FunctionName) and records it for the audit line. It writes the denial itself.
func (s *Server) authorizeResource(w http.ResponseWriter, r *http.Request, resource string) bool {
	c, _ := r.Context().Value(callKey{}).(*call)
	if c == nil {
		c = &call{principal: PrincipalFrom(r.Context()), action: actionFor(r.Pattern)}
	}
	c.resource = resource
	if err := s.decide(c); err != nil {
		writeProtoError(w, r, err)
		return false
	}
	return true
}

func contextWithCall(r *http.Request, c *call) context.Context {
	return context.WithValue(r.Context(), callKey{}, c)
}

// auditedAction: every call that can change state (any Lambda method but GET; every Secrets
// Manager operation but Describe/List/Get), and GetSecretValue.
func auditedAction(method, action string) bool {
	if op, ok := strings.CutPrefix(action, "secretsmanager:"); ok {
		return op == "GetSecretValue" ||
			!(strings.HasPrefix(op, "Describe") || strings.HasPrefix(op, "List") || strings.HasPrefix(op, "Get"))
	}
	return method != http.MethodGet && method != http.MethodHead
}

// audit logs one line: who, what, on what, and how it ended. Never a body, a secret value or a
// signature.
func (s *Server) audit(w http.ResponseWriter, r *http.Request, c *call, status int, errType string) {
	who := "anonymous"
	if c.principal != nil {
		who = c.principal.Name
	}
	outcome := "success"
	if status >= 400 {
		outcome = "failure"
		if errType == string(AccessDenied) {
			outcome = "denied"
		}
	}
	s.cfg.Logger.Info("audit", "principal", who, "action", c.action, "resource", c.resource,
		"outcome", outcome, "status", status, "error", errType, "request_id", w.Header().Get("X-Amzn-RequestId"),
		"remote", r.RemoteAddr)
}

// secretsOpRE is a Secrets Manager operation name.
var secretsOpRE = regexp.MustCompile(`^[A-Za-z]{1,64}$`)

// secretsCall reads the Secrets Manager action from X-Amz-Target and the secret from the body
// (SecretId, or Name for CreateSecret), which it puts back for the handler.
func (s *Server) secretsCall(r *http.Request) (action, resource string) {
	op, _ := strings.CutPrefix(r.Header.Get("X-Amz-Target"), "secretsmanager.")
	if !secretsOpRE.MatchString(op) {
		op = "Unknown"
	}
	action = "secretsmanager:" + op
	body, _ := io.ReadAll(io.LimitReader(r.Body, maxSecretsBody+1))
	r.Body = io.NopCloser(bytes.NewReader(body))
	var in struct{ SecretId, Name string }
	_ = json.Unmarshal(body, &in)
	id := in.SecretId
	if id == "" {
		id = in.Name
	}
	switch {
	case id == "":
		return action, "*"
	case in.SecretId == "" && !strings.HasPrefix(id, "arn:"):
		// CreateSecret: the ARN the secret will have ends in a random "-XXXXXX", so it is
		// judged as "<Name>-??????", which policies written for its ARN (secret:prod-??????,
		// secret:prod*) match, as IAM judges the new secret's ARN.
		return action, s.secretResource(r.Context(), id+"-??????", false)
	}
	return action, s.secretResource(r.Context(), id, in.SecretId != "")
}

// secretResource is the ARN a policy judges for a secret named id: an existing secret's own
// ARN (name-XXXXXX), as IAM does, so that a Deny on secret:prod-?????? holds when the request
// says "prod" or a partial ARN (when resolve); else the ARN the request spells.
func (s *Server) secretResource(ctx context.Context, id string, resolve bool) string {
	if resolve && s.cfg.SecretARN != nil {
		if arn, ok := s.cfg.SecretARN(ctx, id); ok {
			return arn
		}
	}
	if strings.HasPrefix(id, "arn:") {
		return id
	}
	return "arn:aws:secretsmanager:" + s.cfg.Region + ":" + s.cfg.AccountID + ":secret:" + id
}

// mappingSecretTypes are the SourceAccessConfiguration types whose URI names a secret that
// kafkaesm reads and presents to the mapping's brokers.
var mappingSecretTypes = map[string]bool{
	"BASIC_AUTH": true, "SASL_SCRAM_256_AUTH": true, "SASL_SCRAM_512_AUTH": true,
	"CLIENT_CERTIFICATE_TLS_AUTH": true, "SERVER_ROOT_CA_CERTIFICATE": true,
}

// authorizeMappingSecrets: a mapping's secret goes to the brokers the mapping names, which its
// creator chooses, so naming a secret in a mapping is reading it. In AWS the mapping's
// execution role needs secretsmanager:GetSecretValue on it and the caller must be allowed to
// pass that role; kafkaesm has no roles, so the caller must be allowed GetSecretValue on each
// secret it adds (those in kept, already on the mapping, are not judged again: they are
// returned, for the update to check they are still there). It writes the denial itself.
func (s *Server) authorizeMappingSecrets(w http.ResponseWriter, r *http.Request, configs, kept []mapping.SourceAccessConfiguration) (unjudged []mapping.SourceAccessConfiguration, ok bool) {
	p := PrincipalFrom(r.Context())
	if p == nil {
		return nil, true // no authentication configured
	}
	for _, c := range configs {
		if !mappingSecretTypes[c.Type] || c.URI == "" {
			continue
		}
		if slices.Contains(kept, c) {
			unjudged = append(unjudged, c)
			continue
		}
		sc := &call{principal: p, action: "secretsmanager:GetSecretValue", resource: s.secretResource(r.Context(), c.URI, true)}
		if err := s.decide(sc); err != nil {
			writeProtoError(w, r, err)
			return nil, false
		}
	}
	return unjudged, true
}

// statusWriter records the status a handler wrote, for the audit line.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) code() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}
