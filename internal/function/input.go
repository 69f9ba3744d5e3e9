package function

import (
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
)

// LastModifiedLayout is Lambda's FunctionConfiguration.LastModified format.
const LastModifiedLayout = "2006-01-02T15:04:05.000-0700"

// CreateInput is CreateFunctionRequest as decoded from the wire. Members kafkaesm does not
// implement (VpcConfig, Layers, TracingConfig, …) are accepted and ignored, so existing
// deployment scripts keep working.
type CreateInput struct {
	FunctionName  *string           `json:"FunctionName"`
	Runtime       *string           `json:"Runtime"`
	Role          *string           `json:"Role"`
	Handler       *string           `json:"Handler"`
	Code          *CodeInput        `json:"Code"`
	Description   *string           `json:"Description"`
	Timeout       *int              `json:"Timeout"`
	MemorySize    *int              `json:"MemorySize"`
	Environment   *Environment      `json:"Environment"`
	PackageType   *string           `json:"PackageType"`
	Architectures []string          `json:"Architectures"`
	Tags          map[string]string `json:"Tags"`
	HTTPTarget    *HTTPTarget       `json:"KafkaesmHttpTarget"`
	// Publish: publish version 1 right after creating the function.
	Publish *bool `json:"Publish"`
	// PublishTo (LATEST_PUBLISHED, Lambda Managed Instances) is refused: see ErrPublishTo.
	PublishTo *string `json:"PublishTo"`
}

// ErrPublishTo refuses PublishTo (CreateFunction, UpdateFunctionCode, PublishVersion): its
// $LATEST.PUBLISHED version belongs to Lambda Managed Instances, which kafkaesm does not run.
// Ignoring it would publish a numbered version the caller did not ask for.
var ErrPublishTo = invalid("kafkaesm does not support PublishTo (LATEST_PUBLISHED is for Lambda Managed Instances): publish numbered versions with Publish or PublishVersion instead.")

// CodeInput is FunctionCode. Only ZipFile (base64 in JSON; encoding/json decodes it) is
// supported.
type CodeInput struct {
	ZipFile         []byte  `json:"ZipFile"`
	S3Bucket        *string `json:"S3Bucket"`
	S3Key           *string `json:"S3Key"`
	S3ObjectVersion *string `json:"S3ObjectVersion"`
	ImageUri        *string `json:"ImageUri"`
}

// UpdateCodeInput is UpdateFunctionCodeRequest.
type UpdateCodeInput struct {
	CodeInput
	Publish       *bool    `json:"Publish"`
	PublishTo     *string  `json:"PublishTo"` // refused: ErrPublishTo
	DryRun        *bool    `json:"DryRun"`
	Architectures []string `json:"Architectures"`
	RevisionId    *string  `json:"RevisionId"`
}

// UpdateConfigInput is UpdateFunctionConfigurationRequest.
type UpdateConfigInput struct {
	Runtime     *string      `json:"Runtime"`
	Role        *string      `json:"Role"`
	Handler     *string      `json:"Handler"`
	Description *string      `json:"Description"`
	Timeout     *int         `json:"Timeout"`
	MemorySize  *int         `json:"MemorySize"`
	Environment *Environment `json:"Environment"`
	RevisionId  *string      `json:"RevisionId"`
	HTTPTarget  *HTTPTarget  `json:"KafkaesmHttpTarget"`
}

// Identity is what the API assigns to a new function.
type Identity struct {
	Arn        string
	Now        time.Time
	RevisionId string
}

// AWS's full runtime enum is long; these are the values the framework accepts here. A valid
// AWS runtime that kafkaesm cannot run is an InvalidParameterValueException, not a
// ValidationException.
var awsRuntimes = []string{"nodejs18.x", "nodejs20.x", "nodejs22.x", "java11", "java17", "java21", "java8.al2",
	"dotnet8", "ruby3.2", "ruby3.3", "ruby3.4", "provided", "provided.al2", "provided.al2023",
	"python3.8", "python3.9", "python3.10", "python3.11", "python3.12", "python3.13", "python3.14"}

// IsProvided reports whether runtime is a custom runtime (bootstrap executable).
func IsProvided(runtime string) bool { return strings.HasPrefix(runtime, "provided") }

// IsPython reports whether runtime is a Python runtime.
func IsPython(runtime string) bool { return strings.HasPrefix(runtime, "python3.") }

var (
	envKeyRE    = regexp.MustCompile(`^[a-zA-Z]([a-zA-Z0-9_])+$`)
	reservedEnv = []string{"_HANDLER", "_X_AMZN_TRACE_ID", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_EXECUTION_ENV",
		"AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION",
		"AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME",
		"AWS_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
		"AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR"}
)

// MaxEnvironmentSize is Lambda's 4 KB limit on all environment variables together.
const MaxEnvironmentSize = 4096

func validateEnv(e *Environment) error {
	if e == nil {
		return nil
	}
	size := 0
	var reserved []string
	for k, v := range e.Variables {
		if !envKeyRE.MatchString(k) {
			return &Error{Validation: true, Message: fmt.Sprintf("1 validation error detected: Value '%s' at 'environment.variables' failed to satisfy constraint: Map keys must satisfy constraint: [Member must satisfy regular expression pattern: [a-zA-Z]([a-zA-Z0-9_])+]", k)}
		}
		if slices.Contains(reservedEnv, k) {
			reserved = append(reserved, k)
		}
		size += len(k) + len(v)
	}
	if len(reserved) > 0 {
		slices.Sort(reserved)
		return invalid("Lambda was unable to configure your environment variables because the environment variables you have provided contains reserved keys that are currently not supported for modification. Reserved keys used in this request: %s", strings.Join(reserved, ", "))
	}
	if size > MaxEnvironmentSize {
		return invalid("Lambda was unable to configure your environment variables because the environment variables you have provided exceeded the 4KB limit. String measured: %d", size)
	}
	return nil
}

func validateHTTPTarget(t *HTTPTarget) error {
	if t == nil {
		return nil
	}
	u, err := url.Parse(t.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return invalid("KafkaesmHttpTarget.Url must be an absolute http:// or https:// URL, got '%s'.", t.URL)
	}
	return nil
}

// Validate checks a function's configuration (not its code).
func (f *Function) Validate() error {
	if f.HTTPTarget == nil || f.Runtime != "" {
		if !slices.Contains(awsRuntimes, f.Runtime) {
			return &Error{Validation: true, Message: fmt.Sprintf("1 validation error detected: Value '%s' at 'runtime' failed to satisfy constraint: Member must satisfy enum value set: [%s]", f.Runtime, strings.Join(awsRuntimes, ", "))}
		}
		if !slices.Contains(Runtimes, f.Runtime) {
			return invalid("The runtime parameter of %s is not supported by kafkaesm. Supported runtimes: %s.", f.Runtime, strings.Join(Runtimes, ", "))
		}
	}
	if IsPython(f.Runtime) && f.HTTPTarget == nil {
		mod, fn, ok := strings.Cut(f.Handler, ".")
		if f.Handler == "" {
			return invalid("Handler is required for runtime %s.", f.Runtime)
		}
		if !ok || mod == "" || fn == "" || strings.HasSuffix(f.Handler, ".") {
			return invalid("Handler '%s' is not valid for runtime %s: expected module.function.", f.Handler, f.Runtime)
		}
	}
	if len(f.Handler) > 128 {
		return &Error{Validation: true, Message: "1 validation error detected: Value at 'handler' failed to satisfy constraint: Member must have length less than or equal to 128"}
	}
	if f.Timeout < 1 || f.Timeout > MaxTimeout {
		return invalid("1 validation error detected: Value '%d' at 'timeout' failed to satisfy constraint: Member must have value %s", f.Timeout, bound(f.Timeout, 1, MaxTimeout))
	}
	if f.MemorySize < MinMemorySize || f.MemorySize > MaxMemorySize {
		return invalid("1 validation error detected: Value '%d' at 'memorySize' failed to satisfy constraint: Member must have value %s", f.MemorySize, bound(f.MemorySize, MinMemorySize, MaxMemorySize))
	}
	if len(f.Description) > 256 {
		return invalid("1 validation error detected: Value at 'description' failed to satisfy constraint: Member must have length less than or equal to 256")
	}
	if err := validateEnv(f.Environment); err != nil {
		return err
	}
	return validateHTTPTarget(f.HTTPTarget)
}

func bound(v, lo, hi int) string {
	if v < lo {
		return fmt.Sprintf("greater than or equal to %d", lo)
	}
	return fmt.Sprintf("less than or equal to %d", hi)
}

// New builds a function from a create request, with Lambda's defaults, and validates its
// configuration. Code is the caller's: it inspects and unpacks Code.ZipFile.
func New(in *CreateInput, id Identity) (*Function, error) {
	if in.FunctionName == nil || *in.FunctionName == "" {
		return nil, &Error{Validation: true, Message: "1 validation error detected: Value null at 'functionName' failed to satisfy constraint: Member must not be null."}
	}
	name := *in.FunctionName
	if len(name) > 64 || !plainNameRE.MatchString(name) {
		// CreateFunction also accepts an ARN whose region and account are the server's; keep it
		// simple and strict: a plain name.
		ref, err := ParseName(name, "functionName")
		if err != nil {
			return nil, err
		}
		name = ref.Name
		if ref.Qualifier != "" {
			return nil, invalid("1 validation error detected: Value '%s' at 'functionName' failed to satisfy constraint: Member must not have a qualifier", *in.FunctionName)
		}
	}
	if in.PackageType != nil && *in.PackageType != "" && *in.PackageType != "Zip" {
		return nil, invalid("PackageType %s is not supported by kafkaesm: only Zip.", *in.PackageType)
	}
	f := &Function{
		FunctionName:  name,
		FunctionArn:   id.Arn,
		Timeout:       DefaultTimeout,
		MemorySize:    DefaultMemorySize,
		LastModified:  id.Now.UTC().Format(LastModifiedLayout),
		Version:       "$LATEST",
		State:         "Active",
		PackageType:   "Zip",
		Architectures: []string{"x86_64"},
		RevisionId:    id.RevisionId,
		HTTPTarget:    in.HTTPTarget,
	}
	str := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	f.Runtime, f.Role, f.Handler, f.Description = str(in.Runtime), str(in.Role), str(in.Handler), str(in.Description)
	if in.Timeout != nil {
		f.Timeout = *in.Timeout
	}
	if in.MemorySize != nil {
		f.MemorySize = *in.MemorySize
	}
	if in.Environment != nil {
		f.Environment = &Environment{Variables: in.Environment.Variables}
		if f.Environment.Variables == nil {
			f.Environment.Variables = map[string]string{}
		}
	}
	if len(in.Architectures) > 0 {
		if len(in.Architectures) > 1 || (in.Architectures[0] != "x86_64" && in.Architectures[0] != "arm64") {
			return nil, &Error{Validation: true, Message: fmt.Sprintf("1 validation error detected: Value '[%s]' at 'architectures' failed to satisfy constraint: Member must satisfy constraint: [Member must satisfy enum value set: [x86_64, arm64]]", strings.Join(in.Architectures, ", "))}
		}
		f.Architectures = in.Architectures
	}
	if f.HTTPTarget == nil {
		if in.Code == nil {
			return nil, &Error{Validation: true, Message: "1 validation error detected: Value null at 'code' failed to satisfy constraint: Member must not be null."}
		}
		if in.Code.ZipFile == nil {
			if in.Code.S3Bucket != nil || in.Code.ImageUri != nil {
				return nil, invalid("kafkaesm accepts function code as Code.ZipFile only (S3 and container images are not supported).")
			}
			return nil, invalid("Please provide a source for function code.")
		}
		if in.Runtime == nil {
			return nil, invalid("The runtime parameter is required for functions with a Zip package type.")
		}
	}
	if err := f.Validate(); err != nil {
		return nil, err
	}
	return f, nil
}

// ApplyConfig changes f as UpdateFunctionConfiguration asks and validates the result.
func (f *Function) ApplyConfig(in *UpdateConfigInput, now time.Time, revisionID string) error {
	if in.RevisionId != nil && *in.RevisionId != f.RevisionId {
		return ErrRevisionMismatch
	}
	if in.Runtime != nil {
		f.Runtime = *in.Runtime
	}
	if in.Role != nil {
		f.Role = *in.Role
	}
	if in.Handler != nil {
		f.Handler = *in.Handler
	}
	if in.Description != nil {
		f.Description = *in.Description
	}
	if in.Timeout != nil {
		f.Timeout = *in.Timeout
	}
	if in.MemorySize != nil {
		f.MemorySize = *in.MemorySize
	}
	if in.Environment != nil {
		vars := in.Environment.Variables
		if vars == nil {
			vars = map[string]string{}
		}
		f.Environment = &Environment{Variables: vars}
	}
	if in.HTTPTarget != nil {
		if in.HTTPTarget.URL == "" {
			f.HTTPTarget = nil
		} else {
			f.HTTPTarget = in.HTTPTarget
		}
	}
	if f.HTTPTarget == nil && f.CodeSha256 == "" {
		return invalid("The function has no code: set KafkaesmHttpTarget.Url or upload code with UpdateFunctionCode first.")
	}
	if err := f.Validate(); err != nil {
		return err
	}
	f.LastModified = now.UTC().Format(LastModifiedLayout)
	f.RevisionId = revisionID
	return nil
}

// Clone returns a deep copy.
func (f *Function) Clone() *Function {
	b, err := json.Marshal(f)
	if err != nil {
		panic("function: marshal: " + err.Error()) // plain data: cannot fail
	}
	c := new(Function)
	if err := json.Unmarshal(b, c); err != nil {
		panic("function: unmarshal: " + err.Error())
	}
	if f.ReservedConcurrentExecutions != nil {
		n := *f.ReservedConcurrentExecutions
		c.ReservedConcurrentExecutions = &n
	}
	c.CodeDir = f.CodeDir
	return c
}
