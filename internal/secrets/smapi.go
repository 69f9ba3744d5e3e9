package secrets

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/kafkaesm/kafkaesm/internal/arn"
)

// APIConfig configures the Secrets Manager API handler.
type APIConfig struct {
	// Repo stores the secrets. Required.
	Repo *Repo
	// Region and AccountID go into new ARNs; defaults us-east-1 and 000000000000.
	Region    string
	AccountID string
	// Changed, if set, is called with a secret's ARN after it was created with a value, its value
	// changed, or it was deleted (the pollers re-probe the mappings that use it).
	Changed func(arn string)
	Logger  *slog.Logger
}

// Validate fills defaults and checks the configuration.
func (c *APIConfig) Validate() error {
	if c.Repo == nil {
		return errors.New("secrets api: Repo is required")
	}
	if c.Region == "" {
		c.Region = arn.DefaultRegion
	}
	if c.AccountID == "" {
		c.AccountID = arn.DefaultAccountID
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Changed == nil {
		c.Changed = func(string) {}
	}
	return nil
}

// NewAPI returns the Secrets Manager API subset (protocol awsJson1.1: POST / with
// X-Amz-Target: secretsmanager.<Operation>) that `aws secretsmanager … --endpoint-url` and the
// SDKs speak: CreateSecret, GetSecretValue, PutSecretValue, UpdateSecret, DescribeSecret,
// ListSecrets, DeleteSecret. Register it on the API's mux for "POST /{$}".
//
// Only GetSecretValue returns a secret value. Errors and logs never contain one.
func NewAPI(cfg APIConfig) (http.Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	a := &smAPI{cfg: cfg}
	a.ops = map[string]func(context.Context, []byte) (any, error){
		"CreateSecret":   a.createSecret,
		"GetSecretValue": a.getSecretValue,
		"PutSecretValue": a.putSecretValue,
		"UpdateSecret":   a.updateSecret,
		"DescribeSecret": a.describeSecret,
		"ListSecrets":    a.listSecrets,
		"DeleteSecret":   a.deleteSecret,
	}
	return a, nil
}

type smAPI struct {
	cfg APIConfig
	ops map[string]func(context.Context, []byte) (any, error)
}

// smError is an awsJson1.1 error: HTTP status and {"__type", "Message"}.
type smError struct {
	code    string
	status  int
	message string
}

func (e *smError) Error() string { return e.code + ": " + e.message }

func smErr(code, format string, args ...any) *smError {
	status := http.StatusBadRequest
	if code == "InternalServiceError" {
		status = http.StatusInternalServerError
	}
	return &smError{code: code, status: status, message: fmt.Sprintf(format, args...)}
}

var (
	errSMNotFound = smErr("ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
	errSMDeleted  = smErr("InvalidRequestException", "You can't perform this operation on the secret because it was marked for deletion.")
	errSMNoValue  = smErr("ResourceNotFoundException", "Secrets Manager can't find the specified secret value for staging label: AWSCURRENT")
)

const maxSecretSize = 65536

func (a *smAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	target := r.Header.Get("X-Amz-Target")
	op, ok := strings.CutPrefix(target, "secretsmanager.")
	fn := a.ops[op]
	if !ok || fn == nil {
		a.writeError(w, smErr("UnknownOperationException", "The operation %q is not supported.", truncate(target, 64)))
		return
	}
	// A 64 KiB value JSON-escaped (\u00XX, 6 bytes a byte) plus the other members; the API's
	// body limit (api.BodyLimit) refuses larger requests before they get here.
	body, err := io.ReadAll(io.LimitReader(r.Body, 7*maxSecretSize))
	if err != nil {
		a.writeError(w, smErr("InvalidRequestException", "The request body cannot be read."))
		return
	}
	out, err := fn(r.Context(), body)
	if err != nil {
		a.writeError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	_ = json.NewEncoder(w).Encode(out)
}

func (a *smAPI) writeError(w http.ResponseWriter, err error) {
	var e *smError
	if !errors.As(err, &e) {
		// Repo and SQL errors never hold values, but their text is internal: log it, answer generically.
		a.cfg.Logger.Error("secrets manager api", "err", err)
		e = smErr("InternalServiceError", "An error occurred on the server side.")
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-ErrorType", e.code)
	w.WriteHeader(e.status)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": e.code, "Message": e.message})
}

// decode parses a request body; its errors never quote the body, which may hold a secret.
func decode(body []byte, v any) error {
	if len(body) == 0 {
		body = []byte("{}")
	}
	if err := json.Unmarshal(body, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return smErr("InvalidParameterException", "Invalid type for parameter %s.", te.Field)
		}
		return smErr("InvalidRequestException", "The request body is not valid JSON.")
	}
	return nil
}

// epoch is a timestamp as awsJson1.1 sends it: epoch seconds, fractions allowed.
type epoch time.Time

func (t epoch) MarshalJSON() ([]byte, error) {
	return strconv.AppendFloat(nil, float64(time.Time(t).UnixMilli())/1000, 'f', -1, 64), nil
}

func epochPtr(t *time.Time) *epoch {
	if t == nil {
		return nil
	}
	e := epoch(*t)
	return &e
}

type tag struct {
	Key   string `json:"Key"`
	Value string `json:"Value"`
}

// valueInput is the SecretString/SecretBinary pair of Create, Put and Update.
type valueInput struct {
	ClientRequestToken string  `json:"ClientRequestToken"`
	SecretString       *string `json:"SecretString"`
	SecretBinary       []byte  `json:"SecretBinary"` // base64 on the wire, as encoding/json does
}

func (in valueInput) value() (*Value, error) {
	if in.SecretString != nil && in.SecretBinary != nil {
		return nil, smErr("InvalidParameterException", "You can't specify both a binary secret value and a string secret value in the same secret.")
	}
	if t := in.ClientRequestToken; t != "" && (len(t) < 32 || len(t) > 64) {
		return nil, smErr("InvalidParameterException", "ClientRequestToken must be 32 to 64 characters long.")
	}
	switch {
	case in.SecretString != nil:
		if len(*in.SecretString) == 0 || len(*in.SecretString) > maxSecretSize {
			return nil, smErr("InvalidParameterException", "SecretString must be 1 to %d bytes long.", maxSecretSize)
		}
		return &Value{VersionID: in.ClientRequestToken, String: NewRedacted(*in.SecretString)}, nil
	case in.SecretBinary != nil:
		if len(in.SecretBinary) == 0 || len(in.SecretBinary) > maxSecretSize {
			return nil, smErr("InvalidParameterException", "SecretBinary must be 1 to %d bytes long.", maxSecretSize)
		}
		return &Value{VersionID: in.ClientRequestToken, IsBinary: true, Binary: in.SecretBinary}, nil
	}
	return nil, nil
}

// repoErr maps Repo errors onto Secrets Manager's.
func repoErr(err error, name string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrNotFound):
		return errSMNotFound
	case errors.Is(err, ErrDeleted):
		return errSMDeleted
	case errors.Is(err, ErrNoValue):
		return errSMNoValue
	case errors.Is(err, ErrExists):
		return smErr("ResourceExistsException", "The operation failed because the secret %s already exists.", name)
	case errors.Is(err, ErrVersionExists):
		return smErr("ResourceExistsException", "You can't modify an existing version, you can only create a new version.")
	}
	return err
}

func secretID(id string) error {
	if id == "" || len(id) > 2048 {
		return smErr("InvalidParameterException", "SecretId must be 1 to 2048 characters long.")
	}
	return nil
}

type versionOut struct {
	ARN           string   `json:"ARN"`
	Name          string   `json:"Name"`
	VersionId     string   `json:"VersionId,omitempty"`
	VersionStages []string `json:"VersionStages,omitempty"`
}

func (a *smAPI) createSecret(ctx context.Context, body []byte) (any, error) {
	var in struct {
		valueInput
		Name        string `json:"Name"`
		Description string `json:"Description"`
		KmsKeyId    string `json:"KmsKeyId"`
		Tags        []tag  `json:"Tags"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if !ValidName(in.Name) {
		return nil, smErr("InvalidParameterException", "Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!")
	}
	if len(in.Description) > 2048 {
		return nil, smErr("InvalidParameterException", "Description must be at most 2048 characters long.")
	}
	v, err := in.value()
	if err != nil {
		return nil, err
	}
	s := &Secret{ARN: NewARN(a.cfg.Region, a.cfg.AccountID, in.Name), Name: in.Name, Description: in.Description,
		KmsKeyID: in.KmsKeyId, Tags: map[string]string{}}
	for _, t := range in.Tags {
		s.Tags[t.Key] = t.Value
	}
	if err := a.cfg.Repo.Create(ctx, s, v); err != nil {
		return nil, repoErr(err, in.Name)
	}
	out := versionOut{ARN: s.ARN, Name: s.Name}
	if v != nil {
		out.VersionId = v.VersionID
		a.cfg.Changed(s.ARN) // a mapping waiting for this secret (named before it existed) starts now
	}
	return out, nil
}

func (a *smAPI) getSecretValue(ctx context.Context, body []byte) (any, error) {
	var in struct {
		SecretId     string `json:"SecretId"`
		VersionId    string `json:"VersionId"`
		VersionStage string `json:"VersionStage"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := secretID(in.SecretId); err != nil {
		return nil, err
	}
	s, v, err := a.cfg.Repo.GetValue(ctx, in.SecretId, in.VersionId, in.VersionStage)
	if errors.Is(err, ErrNoValue) {
		label := in.VersionStage
		if label == "" {
			label = StageCurrent
		}
		if in.VersionId != "" {
			return nil, smErr("ResourceNotFoundException", "Secrets Manager can't find the specified secret value for VersionId: %s", truncate(in.VersionId, 64))
		}
		return nil, smErr("ResourceNotFoundException", "Secrets Manager can't find the specified secret value for staging label: %s", truncate(label, 256))
	}
	if err != nil {
		return nil, repoErr(err, in.SecretId)
	}
	out := struct {
		ARN           string   `json:"ARN"`
		Name          string   `json:"Name"`
		VersionId     string   `json:"VersionId"`
		SecretString  *string  `json:"SecretString,omitempty"`
		SecretBinary  []byte   `json:"SecretBinary,omitempty"`
		VersionStages []string `json:"VersionStages"`
		CreatedDate   epoch    `json:"CreatedDate"`
	}{ARN: s.ARN, Name: s.Name, VersionId: v.VersionID, VersionStages: s.Stages(v.VersionID), CreatedDate: epoch(v.CreatedDate)}
	if v.IsBinary {
		out.SecretBinary = v.Binary
	} else {
		str := v.String.Reveal() // the one place a value leaves: the GetSecretValue response
		out.SecretString = &str
	}
	return out, nil
}

func (a *smAPI) putSecretValue(ctx context.Context, body []byte) (any, error) {
	var in struct {
		valueInput
		SecretId      string   `json:"SecretId"`
		VersionStages []string `json:"VersionStages"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := secretID(in.SecretId); err != nil {
		return nil, err
	}
	for _, st := range in.VersionStages {
		if st != StageCurrent {
			return nil, smErr("InvalidParameterException", "Only the staging label AWSCURRENT is supported.")
		}
	}
	v, err := in.value()
	if err != nil {
		return nil, err
	}
	if v == nil {
		return nil, smErr("InvalidRequestException", "You must provide either SecretString or SecretBinary.")
	}
	s, err := a.cfg.Repo.PutValue(ctx, in.SecretId, v)
	if err != nil {
		return nil, repoErr(err, in.SecretId)
	}
	a.cfg.Changed(s.ARN)
	return versionOut{ARN: s.ARN, Name: s.Name, VersionId: v.VersionID, VersionStages: s.Stages(v.VersionID)}, nil
}

func (a *smAPI) updateSecret(ctx context.Context, body []byte) (any, error) {
	var in struct {
		valueInput
		SecretId    string  `json:"SecretId"`
		Description *string `json:"Description"`
		KmsKeyId    *string `json:"KmsKeyId"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := secretID(in.SecretId); err != nil {
		return nil, err
	}
	v, err := in.value()
	if err != nil {
		return nil, err
	}
	s, err := a.cfg.Repo.Update(ctx, in.SecretId, func(s *Secret) error {
		if in.Description != nil {
			s.Description = *in.Description
		}
		if in.KmsKeyId != nil {
			s.KmsKeyID = *in.KmsKeyId
		}
		return nil
	})
	if err != nil {
		return nil, repoErr(err, in.SecretId)
	}
	out := versionOut{ARN: s.ARN, Name: s.Name}
	if v != nil {
		if s, err = a.cfg.Repo.PutValue(ctx, s.ARN, v); err != nil {
			return nil, repoErr(err, in.SecretId)
		}
		out.VersionId = v.VersionID
		a.cfg.Changed(s.ARN)
	}
	return out, nil
}

type describeOut struct {
	ARN                    string              `json:"ARN"`
	Name                   string              `json:"Name"`
	Description            string              `json:"Description,omitempty"`
	KmsKeyId               string              `json:"KmsKeyId,omitempty"`
	CreatedDate            epoch               `json:"CreatedDate"`
	LastChangedDate        epoch               `json:"LastChangedDate"`
	DeletedDate            *epoch              `json:"DeletedDate,omitempty"`
	Tags                   []tag               `json:"Tags,omitempty"`
	VersionIdsToStages     map[string][]string `json:"VersionIdsToStages,omitempty"`
	SecretVersionsToStages map[string][]string `json:"SecretVersionsToStages,omitempty"`
}

func describe(s *Secret, list bool) describeOut {
	out := describeOut{ARN: s.ARN, Name: s.Name, Description: s.Description, KmsKeyId: s.KmsKeyID,
		CreatedDate: epoch(s.CreatedDate), LastChangedDate: epoch(s.LastChangedDate), DeletedDate: epochPtr(s.DeletedDate)}
	keys := make([]string, 0, len(s.Tags))
	for k := range s.Tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		out.Tags = append(out.Tags, tag{Key: k, Value: s.Tags[k]})
	}
	stages := map[string][]string{}
	for _, id := range []string{s.CurrentVersion, s.PreviousVersion} {
		if id != "" {
			stages[id] = s.Stages(id)
		}
	}
	if len(stages) > 0 {
		if list {
			out.SecretVersionsToStages = stages
		} else {
			out.VersionIdsToStages = stages
		}
	}
	return out
}

func (a *smAPI) describeSecret(ctx context.Context, body []byte) (any, error) {
	var in struct {
		SecretId string `json:"SecretId"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := secretID(in.SecretId); err != nil {
		return nil, err
	}
	s, err := a.cfg.Repo.Get(ctx, in.SecretId)
	if err != nil {
		return nil, repoErr(err, in.SecretId)
	}
	return describe(s, false), nil
}

func (a *smAPI) listSecrets(ctx context.Context, body []byte) (any, error) {
	var in struct {
		MaxResults             int    `json:"MaxResults"`
		NextToken              string `json:"NextToken"`
		IncludePlannedDeletion bool   `json:"IncludePlannedDeletion"`
		Filters                []struct {
			Key    string   `json:"Key"`
			Values []string `json:"Values"`
		} `json:"Filters"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if in.MaxResults == 0 {
		in.MaxResults = 100
	}
	if in.MaxResults < 1 || in.MaxResults > 100 {
		return nil, smErr("InvalidParameterException", "MaxResults must be between 1 and 100.")
	}
	start := 0
	if in.NextToken != "" {
		b, err := base64.RawURLEncoding.DecodeString(in.NextToken)
		n, err2 := strconv.Atoi(string(b))
		if err != nil || err2 != nil || n < 0 {
			return nil, smErr("InvalidNextTokenException", "The NextToken value is invalid.")
		}
		start = n
	}
	all, err := a.cfg.Repo.List(ctx)
	if err != nil {
		return nil, err
	}
	var matched []*Secret
	for _, s := range all {
		if s.DeletedDate != nil && !in.IncludePlannedDeletion {
			continue
		}
		ok := true
		for _, f := range in.Filters {
			ok = ok && matchFilter(s, f.Key, f.Values)
		}
		if ok {
			matched = append(matched, s)
		}
	}
	out := struct {
		SecretList []describeOut `json:"SecretList"`
		NextToken  string        `json:"NextToken,omitempty"`
	}{SecretList: []describeOut{}}
	end := int(math.Min(float64(start+in.MaxResults), float64(len(matched))))
	for i := start; i < end; i++ {
		out.SecretList = append(out.SecretList, describe(matched[i], true))
	}
	if end < len(matched) {
		out.NextToken = base64.RawURLEncoding.EncodeToString([]byte(strconv.Itoa(end)))
	}
	return out, nil
}

// matchFilter implements ListSecrets filters: prefix matches on name, description, tag keys
// and values; "all" matches any of them. A value starting with "!" negates.
func matchFilter(s *Secret, key string, values []string) bool {
	fields := func() []string {
		switch key {
		case "name":
			return []string{s.Name}
		case "description":
			return []string{s.Description}
		case "tag-key":
			var ks []string
			for k := range s.Tags {
				ks = append(ks, k)
			}
			return ks
		case "tag-value":
			var vs []string
			for _, v := range s.Tags {
				vs = append(vs, v)
			}
			return vs
		case "all":
			f := []string{s.Name, s.Description}
			for k, v := range s.Tags {
				f = append(f, k, v)
			}
			return f
		}
		return nil
	}()
	for _, v := range values {
		neg := strings.HasPrefix(v, "!")
		v = strings.TrimPrefix(v, "!")
		hit := false
		for _, f := range fields {
			if strings.HasPrefix(f, v) {
				hit = true
			}
		}
		if hit != neg {
			return true
		}
	}
	return false
}

func (a *smAPI) deleteSecret(ctx context.Context, body []byte) (any, error) {
	var in struct {
		SecretId                   string `json:"SecretId"`
		RecoveryWindowInDays       *int64 `json:"RecoveryWindowInDays"`
		ForceDeleteWithoutRecovery bool   `json:"ForceDeleteWithoutRecovery"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := secretID(in.SecretId); err != nil {
		return nil, err
	}
	days := int64(30)
	if in.RecoveryWindowInDays != nil {
		if in.ForceDeleteWithoutRecovery {
			return nil, smErr("InvalidParameterException", "You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.")
		}
		days = *in.RecoveryWindowInDays
		if days < 7 || days > 30 {
			return nil, smErr("InvalidParameterException", "The RecoveryWindowInDays value must be between 7 and 30 days (inclusive).")
		}
	}
	s, err := a.cfg.Repo.Delete(ctx, in.SecretId, in.ForceDeleteWithoutRecovery, time.Duration(days)*24*time.Hour)
	if err != nil {
		return nil, repoErr(err, in.SecretId)
	}
	a.cfg.Changed(s.ARN)
	return struct {
		ARN          string `json:"ARN"`
		Name         string `json:"Name"`
		DeletionDate epoch  `json:"DeletionDate"`
	}{s.ARN, s.Name, epoch(*s.DeletedDate)}, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
