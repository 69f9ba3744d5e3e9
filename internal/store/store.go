// Package store persists kafkaesm's control-plane state: event source mappings, functions and
// tags. Store is the interface the API, the reconciler and the pollers use; SQLite (this package)
// is the embedded implementation, and every implementation must pass storetest.Run.
//
// The store keeps models as opaque JSON documents plus the few columns it queries on. It knows
// no AWS rules beyond uniqueness: validation belongs to internal/mapping and internal/function.
package store

import (
	"context"
	"errors"
	"strings"

	"github.com/kafkaesm/kafkaesm/internal/function"
	"github.com/kafkaesm/kafkaesm/internal/mapping"
)

var (
	// ErrNotFound: no mapping, function or resource with that key.
	ErrNotFound = errors.New("store: not found")
	// ErrExists: a mapping with that UUID or a function with that name already exists.
	ErrExists = errors.New("store: already exists")
	// ErrGroupIDTaken: another mapping already uses that Kafka consumer group.
	ErrGroupIDTaken = errors.New("store: consumer group id already used by another mapping")
)

// VersionInUseError: a version cannot be deleted while aliases point at it.
type VersionInUseError struct {
	Aliases []string // names, sorted
}

func (e *VersionInUseError) Error() string {
	return "store: version in use by aliases " + strings.Join(e.Aliases, ", ")
}

// MissingVersionError: an alias names a version that does not exist.
type MissingVersionError struct {
	Version string
}

func (e *MissingVersionError) Error() string { return "store: no version " + e.Version }

// MappingFilter selects mappings in ListMappings. Zero fields match everything.
type MappingFilter struct {
	// FunctionArn matches mappings whose FunctionArn equals it, or, when it is unqualified,
	// whose unqualified FunctionArn equals it (so "fn" lists mappings on "fn" and "fn:alias").
	FunctionArn string
}

// Page asks for at most Limit items after Marker ("" = from the start). Markers are opaque
// strings produced by the store; an unknown marker is an error (ErrBadMarker).
type Page struct {
	Marker string
	Limit  int
}

// ErrBadMarker is returned for a marker the store did not produce.
var ErrBadMarker = errors.New("store: invalid pagination marker")

// Status is what a poller reports about a mapping. Empty fields are left unchanged, except
// LastProcessingCause, which goes with LastProcessingResult: whenever LastProcessingResult is
// set, the mapping's KafkaesmLastProcessingCause becomes LastProcessingCause, empty included.
type Status struct {
	State                 string
	StateTransitionReason string
	LastProcessingResult  string
	LastProcessingCause   string
}

// Store is kafkaesm's persistent state. All methods are safe for concurrent use; every method
// is atomic. Returned models are copies the caller owns.
type Store interface {
	// CreateMapping inserts m. Inside the same transaction it calls check with every existing
	// mapping whose unqualified function ARN and first topic equal m's (Lambda's duplicate rule
	// needs both), so duplicate rules are enforced atomically; a non-nil error from check aborts and is returned as is.
	// ErrExists for a taken UUID, ErrGroupIDTaken for a taken consumer group.
	CreateMapping(ctx context.Context, m *mapping.EventSourceMapping, check func(others []*mapping.EventSourceMapping) error) error
	GetMapping(ctx context.Context, uuid string) (*mapping.EventSourceMapping, error)
	// ListMappings returns mappings in creation order and the marker of the next page ("" at the end).
	ListMappings(ctx context.Context, f MappingFilter, p Page) ([]*mapping.EventSourceMapping, string, error)
	// UpdateMapping reads the mapping, calls fn on it and stores the result, in one transaction.
	// An error from fn aborts and is returned as is. fn must not change UUID.
	UpdateMapping(ctx context.Context, uuid string, fn func(m *mapping.EventSourceMapping) error) (*mapping.EventSourceMapping, error)
	// SetMappingStatus records a poller's report.
	SetMappingStatus(ctx context.Context, uuid string, s Status) error
	// DeleteMapping removes the mapping and its tags.
	DeleteMapping(ctx context.Context, uuid string) error

	// CreateFunction inserts f; ErrExists when the name is taken.
	CreateFunction(ctx context.Context, f *function.Function) error
	GetFunction(ctx context.Context, name string) (*function.Function, error)
	// ListFunctions returns functions in creation order and the next marker.
	ListFunctions(ctx context.Context, p Page) ([]*function.Function, string, error)
	// UpdateFunction is UpdateMapping for functions. fn must not change FunctionName.
	UpdateFunction(ctx context.Context, name string, fn func(f *function.Function) error) (*function.Function, error)
	// DeleteFunction removes the function, its versions, its aliases and its tags.
	DeleteFunction(ctx context.Context, name string) error

	// PublishVersion reads, in one transaction, the function ($LATEST) and its newest published
	// version (nil when there is none) and calls fn with them. fn returns the version to
	// publish, or nil to publish nothing; the store numbers it (one more than the highest
	// number ever published for the function: numbers are never reused) with Numbered.
	// It returns the published version and true, or newest and false when fn returned nil.
	// An error from fn aborts and is returned as is; ErrNotFound when there is no function.
	PublishVersion(ctx context.Context, name string, fn func(latest, newest *function.Function) (*function.Function, error)) (*function.Function, bool, error)
	// GetFunctionVersion returns a published version ("1", "2", …; "$LATEST" is GetFunction).
	// Its ReservedConcurrentExecutions is the function's current one (it applies across
	// versions). ErrNotFound when the function or the version does not exist.
	GetFunctionVersion(ctx context.Context, name, version string) (*function.Function, error)
	// ListFunctionVersions returns published versions in ascending order and the next marker.
	ListFunctionVersions(ctx context.Context, name string, p Page) ([]*function.Function, string, error)
	// DeleteFunctionVersion removes a published version; *VersionInUseError when an alias
	// points at it (as its version or its routing configuration's additional version).
	DeleteFunctionVersion(ctx context.Context, name, version string) error

	// CreateAlias inserts a; ErrExists when the function has an alias of that name,
	// ErrNotFound without the function, *MissingVersionError when a version it names
	// does not exist (checked in the same transaction as the insert).
	CreateAlias(ctx context.Context, name string, a *function.Alias) error
	GetAlias(ctx context.Context, name, alias string) (*function.Alias, error)
	// ListAliases returns the function's aliases in creation order, only those pointing at
	// version (as FunctionVersion or additional version) when version is not "".
	ListAliases(ctx context.Context, name, version string, p Page) ([]*function.Alias, string, error)
	// UpdateAlias is UpdateMapping for aliases; *MissingVersionError as CreateAlias. fn must
	// not change Name.
	UpdateAlias(ctx context.Context, name, alias string, fn func(a *function.Alias) error) (*function.Alias, error)
	DeleteAlias(ctx context.Context, name, alias string) error

	// TagResource sets tags on arn (merging); UntagResource removes keys; ListTags returns them
	// (an empty, non-nil map when there are none). The store does not check that arn exists.
	TagResource(ctx context.Context, arn string, tags map[string]string) error
	UntagResource(ctx context.Context, arn string, keys []string) error
	ListTags(ctx context.Context, arn string) (map[string]string, error)

	Close() error
}
