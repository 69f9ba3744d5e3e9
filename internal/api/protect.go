package api

import "net/http"

// ProtectConfig is what stands between a listener and the API.
type ProtectConfig struct {
	Guard GuardConfig
	// Auth, when set, requires SigV4 on every request it does not exempt. Nil serves without
	// authentication (kafkaesm dev, serve --no-auth: loopback only).
	Auth *SigV4Config
}

// Protect wraps next in the order that rejects cheapest first, and reads no body before a
// request was found acceptable from its headers: request id, browser protections (Guard),
// body limits and deadlines (Limits), then SigV4.
func Protect(cfg ProtectConfig, next http.Handler) (http.Handler, error) {
	h := next
	if cfg.Auth != nil {
		var err error
		if h, err = SigV4(*cfg.Auth, next); err != nil {
			return nil, err
		}
	}
	h = Guard(cfg.Guard, Limits(h))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("x-amzn-RequestId", newRequestID())
		h.ServeHTTP(w, r)
	}), nil
}
