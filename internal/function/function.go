// Package function owns the Lambda function model: configuration as Lambda's API names it,
// defaults and validation, and the checking and unpacking of code archives (code.go: its only
// I/O, into a directory the caller names). The store persists functions, invoke runs them.
package function

// Runtimes kafkaesm runs as local processes speaking the Lambda Runtime API.
var Runtimes = []string{"provided", "provided.al2", "provided.al2023",
	"python3.9", "python3.10", "python3.11", "python3.12", "python3.13", "python3.14"}

// Defaults and limits, as Lambda.
const (
	DefaultTimeout    = 3   // seconds
	MaxTimeout        = 900 // seconds
	DefaultMemorySize = 128 // MB
	MinMemorySize     = 128
	MaxMemorySize     = 10240
	// MaxPayload is Lambda's synchronous request and response limit: 6 MB.
	MaxPayload = 6 * 1024 * 1024
)

// Function is one registered function. JSON names are Lambda's FunctionConfiguration names.
type Function struct {
	FunctionName  string       `json:"FunctionName"`
	FunctionArn   string       `json:"FunctionArn"`
	Runtime       string       `json:"Runtime,omitempty"`
	Role          string       `json:"Role,omitempty"`
	Handler       string       `json:"Handler,omitempty"`
	CodeSize      int64        `json:"CodeSize"`
	CodeSha256    string       `json:"CodeSha256,omitempty"`
	Description   string       `json:"Description"`
	Timeout       int          `json:"Timeout"`
	MemorySize    int          `json:"MemorySize"`
	LastModified  string       `json:"LastModified"` // ISO 8601, e.g. 2019-10-15T23:04:12.345+0000
	Version       string       `json:"Version"`
	Environment   *Environment `json:"Environment,omitempty"`
	State         string       `json:"State,omitempty"`
	PackageType   string       `json:"PackageType,omitempty"`
	Architectures []string     `json:"Architectures,omitempty"`
	RevisionId    string       `json:"RevisionId,omitempty"`
	// LastUpdateStatus is "Successful": kafkaesm applies updates synchronously.
	LastUpdateStatus string `json:"LastUpdateStatus,omitempty"`

	// HTTPTarget, when set, makes the function an existing HTTP endpoint instead of a process:
	// the event is POSTed to URL. A kafkaesm extension member of CreateFunction.
	HTTPTarget *HTTPTarget `json:"KafkaesmHttpTarget,omitempty"`

	// ReservedConcurrentExecutions is set by PutFunctionConcurrency (nil = unreserved).
	ReservedConcurrentExecutions *int `json:"-"`
	// CodeDir is where the unpacked code lives under the data dir. Not a wire member.
	CodeDir string            `json:"-"`
	Tags    map[string]string `json:"-"`
}

type Environment struct {
	Variables map[string]string `json:"Variables"`
}

// HTTPTarget is an existing HTTP endpoint acting as a function.
type HTTPTarget struct {
	URL string `json:"Url"`
}
