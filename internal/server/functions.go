package server

import (
	"errors"

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
	eng, err := invoke.New(invoke.Config{Functions: fns, DataDir: cfg.DataDir, Region: cfg.Region,
		AccountID: cfg.AccountID, Logger: cfg.Logger, Observer: obs, Python: cfg.Python, Pythons: cfg.Pythons})
	if err != nil {
		return nil, err
	}
	async, err := invoke.NewAsync(invoke.AsyncConfig{Invoker: eng, Logger: cfg.Logger})
	if err != nil {
		return nil, errors.Join(err, eng.Close())
	}
	return &functionRuntime{Functions: fns, Engine: eng, Async: async}, nil
}

// Changed is api.Config.FunctionChanged, called when a function, a version or an alias changed:
// forget what its qualifiers resolved to and retire the function's environments.
func (f *functionRuntime) Changed(name string) {
	f.Functions.Invalidate(name)
	f.Engine.Retire(name)
}

// Close drops queued Event invocations and kills every environment.
func (f *functionRuntime) Close() error {
	return errors.Join(f.Async.Close(), f.Engine.Close())
}
