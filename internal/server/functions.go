package server

import (
	"errors"
	"fmt"
	"os"

	"github.com/kafkaesm/kafkaesm/internal/invoke"
)

// functionRuntime is the node's function data plane: the cached function resolver, the engine
// running execution environments and HTTP targets, and the Event queue. Wiring (in New):
//
//	fr, err := newFunctionRuntime(cfg, st, func(err error) bool { return errors.Is(err, store.ErrNotFound) })
//	api.Config{…, Invoker: fr.Engine, Functions: fr.Functions, Async: fr.Async, FunctionChanged: fr.Changed}
//	// the pollers invoke through fr.Engine; on shutdown, after the HTTP server and the pollers: fr.Close()
type functionRuntime struct {
	Functions *invoke.CachedFunctions
	Engine    *invoke.Engine
	Async     *invoke.Async
}

func newFunctionRuntime(cfg Config, src invoke.Source, isNotFound func(error) bool, obs invoke.Observer) (*functionRuntime, error) {
	fns := invoke.NewCachedFunctions(src, isNotFound)
	users, err := functionUsers(cfg)
	if err != nil {
		return nil, err
	}
	eng, err := invoke.New(invoke.Config{Functions: fns, DataDir: cfg.DataDir, Region: cfg.Region,
		AccountID: cfg.AccountID, Logger: cfg.Logger, Observer: obs, Python: cfg.Python, Pythons: cfg.Pythons, Users: users})
	if err != nil {
		return nil, err
	}
	async, err := invoke.NewAsync(invoke.AsyncConfig{Invoker: eng, Logger: cfg.Logger})
	if err != nil {
		return nil, errors.Join(err, eng.Close())
	}
	return &functionRuntime{Functions: fns, Engine: eng, Async: async}, nil
}

// DefaultFunctionUIDs is the uid range functions run under when the server runs as root.
const DefaultFunctionUIDs = "61000-61999"

// functionUsers resolves Config.FunctionUIDs and logs which protection applies.
func functionUsers(cfg Config) (invoke.UIDRange, error) {
	spec := cfg.FunctionUIDs
	root := os.Geteuid() == 0
	if spec == "" && root {
		spec = DefaultFunctionUIDs
	}
	users, err := invoke.ParseUIDRange(spec)
	if err != nil {
		return users, err
	}
	switch {
	case users.Count > 0 && !root:
		return users, fmt.Errorf("--function-uids %s needs the server to run as root; use --function-uids off", spec)
	case users.Count > 0:
		cfg.Logger.Info("functions run under their own uids", "uids", spec)
	default:
		cfg.Logger.Warn("functions run as the server's own user: they can read its data directory and key file and signal it; "+
			"run the server as root to give each function its own uid (docs/functions.md, Security)", "uid", os.Geteuid())
	}
	return users, nil
}

// LatestChanged is api.Config.LatestChanged, called when $LATEST's code, configuration or
// reserved concurrency changed: forget what the function's qualifiers resolved to and retire
// $LATEST's environments; published versions keep theirs warm.
func (f *functionRuntime) LatestChanged(name string) {
	f.Functions.Invalidate(name)
	f.Engine.Retire(name, "$LATEST")
}

// VersionDeleted is api.Config.VersionDeleted, called when a published version was deleted:
// forget what the function's qualifiers resolved to and retire that version's environments;
// $LATEST's and the other versions' stay warm (the alias a deployment moved keeps running).
func (f *functionRuntime) VersionDeleted(name, version string) {
	f.Functions.Invalidate(name)
	f.Engine.Retire(name, version)
}

// Changed is api.Config.FunctionChanged, called when a function was deleted:
// forget what its qualifiers resolved to and retire the environments of all its versions.
func (f *functionRuntime) Changed(name string) {
	f.Functions.Invalidate(name)
	f.Engine.Retire(name)
}

// Close drops queued Event invocations and kills every environment.
func (f *functionRuntime) Close() error {
	return errors.Join(f.Async.Close(), f.Engine.Close())
}
