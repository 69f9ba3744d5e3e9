package secrets

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Migrations holds the secrets tables (versions 0100-0199 of the shared database). The store
// applies them with store.Migrate(ctx, db, secrets.Migrations) next to its own.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations is the secrets package's migration set.
var Migrations fs.FS = func() fs.FS {
	s, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		panic(err) // constant embed pattern
	}
	return s
}()

// Stages of a secret version, as Secrets Manager names them.
const (
	StageCurrent  = "AWSCURRENT"
	StagePrevious = "AWSPREVIOUS"
)

var (
	// ErrExists: a secret with that name already exists (also while scheduled for deletion).
	ErrExists = errors.New("secret already exists")
	// ErrVersionExists: the version id is taken by a different value.
	ErrVersionExists = errors.New("secret version already exists with a different value")
	// ErrDeleted: the secret is scheduled for deletion; its value cannot be read or changed.
	ErrDeleted = errors.New("secret is marked for deletion")
	// ErrNoValue: the secret has no version with the requested id or stage.
	ErrNoValue = errors.New("secret has no such version")
)

// Secret is a secret's metadata. It holds no value.
type Secret struct {
	ARN             string
	Name            string
	Description     string
	KmsKeyID        string
	Tags            map[string]string
	CreatedDate     time.Time
	LastChangedDate time.Time
	// DeletedDate is when a scheduled deletion takes effect; nil when not scheduled.
	DeletedDate     *time.Time
	CurrentVersion  string
	PreviousVersion string
}

// Value is one version of a secret's value: SecretString or SecretBinary.
type Value struct {
	VersionID   string
	CreatedDate time.Time
	String      Redacted
	Binary      []byte
	IsBinary    bool
}

// Stages returns the version's staging labels for s.
func (s *Secret) Stages(versionID string) []string {
	switch versionID {
	case s.CurrentVersion:
		return []string{StageCurrent}
	case s.PreviousVersion:
		return []string{StagePrevious}
	}
	return nil
}

// NewARN returns a Secrets Manager ARN for name: AWS appends a hyphen and six random characters.
func NewARN(region, account, name string) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	var b [6]byte
	_, _ = rand.Read(b[:])
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return fmt.Sprintf("arn:aws:secretsmanager:%s:%s:secret:%s-%s", region, account, name, b[:])
}

// Repo persists secrets in the shared SQLite database. Values are sealed with the Sealer,
// bound to "<arn>/<version id>", before they reach SQL; metadata is stored in clear. Repo also
// is the SecretSource the Kafka client reads credentials through.
type Repo struct {
	db     *sql.DB
	sealer *Sealer
	now    func() time.Time
}

// NewRepo returns a Repo over db, whose secrets tables must exist (Migrations applied).
func NewRepo(db *sql.DB, sealer *Sealer) *Repo {
	return &Repo{db: db, sealer: sealer, now: time.Now}
}

const secretColumns = `arn, name, description, kms_key_id, tags, created_at, last_changed_at, deleted_at, current_version, previous_version`

// lookup matches a full ARN, a name, or a partial ARN (the ARN without its "-XXXXXX" suffix),
// the three forms Secrets Manager accepts as SecretId.
const lookup = ` WHERE arn = ?1 OR name = ?1 OR (length(arn) > 7 AND substr(arn, 1, length(arn) - 7) = ?1)`

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func scanSecret(row interface{ Scan(...any) error }) (*Secret, error) {
	var (
		s                Secret
		tags             string
		created, changed int64
		deleted          sql.NullInt64
	)
	if err := row.Scan(&s.ARN, &s.Name, &s.Description, &s.KmsKeyID, &tags, &created, &changed, &deleted,
		&s.CurrentVersion, &s.PreviousVersion); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(tags), &s.Tags); err != nil {
		return nil, fmt.Errorf("secret %s: tags: %w", s.ARN, err)
	}
	s.CreatedDate, s.LastChangedDate = time.UnixMilli(created).UTC(), time.UnixMilli(changed).UTC()
	if deleted.Valid {
		d := time.UnixMilli(deleted.Int64).UTC()
		s.DeletedDate = &d
	}
	return &s, nil
}

func getSecret(ctx context.Context, q querier, id string) (*Secret, error) {
	s, err := scanSecret(q.QueryRowContext(ctx, `SELECT `+secretColumns+` FROM secrets`+lookup, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return s, err
}

// Create stores a new secret and, when v is not nil, its first value (AWSCURRENT). s.ARN and
// s.Name must be set; dates are set here, and v.VersionID is generated when empty.
func (r *Repo) Create(ctx context.Context, s *Secret, v *Value) error {
	now := r.now()
	s.CreatedDate, s.LastChangedDate, s.DeletedDate = now.UTC().Truncate(time.Millisecond), now.UTC().Truncate(time.Millisecond), nil
	if s.Tags == nil {
		s.Tags = map[string]string{}
	}
	tags, err := json.Marshal(s.Tags)
	if err != nil {
		return err
	}
	tx, err := r.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM secrets WHERE name = ?`, s.Name).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return fmt.Errorf("%w: %s", ErrExists, s.Name)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO secrets (arn, name, description, kms_key_id, tags, created_at, last_changed_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, s.ARN, s.Name, s.Description, s.KmsKeyID, string(tags), now.UnixMilli(), now.UnixMilli()); err != nil {
		return err
	}
	if v != nil {
		if err := r.putValue(ctx, tx, s, v, now); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// Get returns a secret's metadata by ARN, partial ARN or name.
func (r *Repo) Get(ctx context.Context, id string) (*Secret, error) {
	return getSecret(ctx, r.db, id)
}

// List returns every secret (scheduled deletions included) in creation order.
func (r *Repo) List(ctx context.Context) ([]*Secret, error) {
	rows, err := r.db.QueryContext(ctx, `SELECT `+secretColumns+` FROM secrets ORDER BY seq`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Secret
	for rows.Next() {
		s, err := scanSecret(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// Update changes a secret's metadata (description, KMS key id, tags) through fn.
func (r *Repo) Update(ctx context.Context, id string, fn func(*Secret) error) (*Secret, error) {
	return r.changeLive(ctx, id, func(tx *sql.Tx, s *Secret) error {
		if err := fn(s); err != nil {
			return err
		}
		tags, err := json.Marshal(s.Tags)
		if err != nil {
			return err
		}
		now := r.now()
		s.LastChangedDate = now.UTC().Truncate(time.Millisecond)
		_, err = tx.ExecContext(ctx, `UPDATE secrets SET description = ?, kms_key_id = ?, tags = ?, last_changed_at = ? WHERE arn = ?`,
			s.Description, s.KmsKeyID, string(tags), now.UnixMilli(), s.ARN)
		return err
	})
}

// PutValue stores a new version and makes it AWSCURRENT; the former current version becomes
// AWSPREVIOUS. Repeating a VersionID with the same value is a no-op (Secrets Manager's
// idempotency); with another value it is ErrVersionExists.
func (r *Repo) PutValue(ctx context.Context, id string, v *Value) (*Secret, error) {
	return r.changeLive(ctx, id, func(tx *sql.Tx, s *Secret) error {
		return r.putValue(ctx, tx, s, v, r.now())
	})
}

// changeLive runs change on a secret that is not marked for deletion, in one transaction that
// commits only when change succeeds.
func (r *Repo) changeLive(ctx context.Context, id string, change func(*sql.Tx, *Secret) error) (*Secret, error) {
	return r.change(ctx, id, func(tx *sql.Tx, s *Secret) error {
		if s.DeletedDate != nil {
			return ErrDeleted
		}
		return change(tx, s)
	})
}

// change loads a secret and runs change on it in one transaction that commits only when change
// succeeds.
func (r *Repo) change(ctx context.Context, id string, change func(*sql.Tx, *Secret) error) (*Secret, error) {
	tx, err := r.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer func() { _ = tx.Rollback() }()
	s, err := getSecret(ctx, tx, id)
	if err != nil {
		return nil, err
	}
	if err := change(tx, s); err != nil {
		return nil, err
	}
	return s, tx.Commit()
}

func (r *Repo) putValue(ctx context.Context, tx *sql.Tx, s *Secret, v *Value, now time.Time) error {
	if v.VersionID == "" {
		v.VersionID = uuid.NewString()
	}
	plain := v.Binary
	if !v.IsBinary {
		plain = []byte(v.String.Reveal())
	}
	if old, err := r.value(ctx, tx, s.ARN, v.VersionID); err == nil {
		oldPlain := old.Binary
		if !old.IsBinary {
			oldPlain = []byte(old.String.Reveal())
		}
		if old.IsBinary == v.IsBinary && bytes.Equal(oldPlain, plain) {
			*v = *old
			return nil
		}
		return fmt.Errorf("%w: %s", ErrVersionExists, v.VersionID)
	} else if !errors.Is(err, ErrNoValue) {
		return err
	}
	sealed, err := r.sealer.Seal(plain, aad(s.ARN, v.VersionID))
	if err != nil {
		return err
	}
	v.CreatedDate = now.UTC().Truncate(time.Millisecond)
	if _, err := tx.ExecContext(ctx, `INSERT INTO secret_versions (arn, version_id, created_at, binary, key_id, sealed) VALUES (?, ?, ?, ?, ?, ?)`,
		s.ARN, v.VersionID, now.UnixMilli(), v.IsBinary, r.sealer.PrimaryKeyID(), sealed); err != nil {
		return err
	}
	s.PreviousVersion, s.CurrentVersion = s.CurrentVersion, v.VersionID
	s.LastChangedDate = v.CreatedDate
	_, err = tx.ExecContext(ctx, `UPDATE secrets SET current_version = ?, previous_version = ?, last_changed_at = ? WHERE arn = ?`,
		s.CurrentVersion, s.PreviousVersion, now.UnixMilli(), s.ARN)
	return err
}

func aad(arn, versionID string) []byte { return []byte(arn + "/" + versionID) }

func (r *Repo) value(ctx context.Context, q querier, arn, versionID string) (*Value, error) {
	var (
		v       = Value{VersionID: versionID}
		created int64
		sealed  []byte
	)
	err := q.QueryRowContext(ctx, `SELECT created_at, binary, sealed FROM secret_versions WHERE arn = ? AND version_id = ?`, arn, versionID).
		Scan(&created, &v.IsBinary, &sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNoValue
	}
	if err != nil {
		return nil, err
	}
	plain, err := r.sealer.Open(sealed, aad(arn, versionID))
	if err != nil {
		return nil, err
	}
	v.CreatedDate = time.UnixMilli(created).UTC()
	if v.IsBinary {
		v.Binary = plain
	} else {
		v.String = NewRedacted(string(plain))
	}
	return &v, nil
}

// GetValue returns a secret and one of its values: versionID when given, else the version
// with stage (default AWSCURRENT).
func (r *Repo) GetValue(ctx context.Context, id, versionID, stage string) (*Secret, *Value, error) {
	s, err := getSecret(ctx, r.db, id)
	if err != nil {
		return nil, nil, err
	}
	if s.DeletedDate != nil {
		return nil, nil, ErrDeleted
	}
	if versionID == "" {
		switch stage {
		case "", StageCurrent:
			versionID = s.CurrentVersion
		case StagePrevious:
			versionID = s.PreviousVersion
		}
		if versionID == "" {
			return nil, nil, ErrNoValue
		}
	} else if stage != "" && !contains(s.Stages(versionID), stage) {
		return nil, nil, ErrNoValue
	}
	v, err := r.value(ctx, r.db, s.ARN, versionID)
	if err != nil {
		return nil, nil, err
	}
	return s, v, nil
}

// GetSecretValue returns the current SecretString: Repo is the Kafka client's SecretSource.
// A missing secret, one scheduled for deletion, or one without a string value wraps ErrNotFound.
func (r *Repo) GetSecretValue(ctx context.Context, id string) (string, error) {
	_, v, err := r.GetValue(ctx, id, "", "")
	switch {
	case errors.Is(err, ErrDeleted), errors.Is(err, ErrNoValue):
		return "", fmt.Errorf("%w: %s: %v", ErrNotFound, id, err)
	case err != nil:
		return "", err
	case v.IsBinary:
		return "", fmt.Errorf("%w: %s holds SecretBinary, not SecretString", ErrMalformed, id)
	}
	return v.String.Reveal(), nil
}

// Delete removes a secret now (force) or schedules its deletion after window, during which its
// value cannot be read. It returns the secret as it was, with DeletedDate set.
func (r *Repo) Delete(ctx context.Context, id string, force bool, window time.Duration) (*Secret, error) {
	return r.change(ctx, id, func(tx *sql.Tx, s *Secret) error {
		now := r.now().UTC().Truncate(time.Millisecond)
		if force {
			s.DeletedDate = &now
			if _, err := tx.ExecContext(ctx, `DELETE FROM secret_versions WHERE arn = ?`, s.ARN); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `DELETE FROM secrets WHERE arn = ?`, s.ARN)
			return err
		}
		if s.DeletedDate == nil {
			d := now.Add(window)
			s.DeletedDate = &d
			_, err := tx.ExecContext(ctx, `UPDATE secrets SET deleted_at = ? WHERE arn = ?`, d.UnixMilli(), s.ARN)
			return err
		}
		return nil
	})
}

// PurgeDeleted removes secrets whose scheduled deletion date has passed; it returns how many.
func (r *Repo) PurgeDeleted(ctx context.Context) (int, error) {
	now := r.now().UnixMilli()
	tx, err := r.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.ExecContext(ctx, `DELETE FROM secret_versions WHERE arn IN (SELECT arn FROM secrets WHERE deleted_at IS NOT NULL AND deleted_at <= ?)`, now); err != nil {
		return 0, err
	}
	res, err := tx.ExecContext(ctx, `DELETE FROM secrets WHERE deleted_at IS NOT NULL AND deleted_at <= ?`, now)
	if err != nil {
		return 0, err
	}
	n, _ := res.RowsAffected()
	return int(n), tx.Commit()
}

// Reseal re-encrypts every value sealed under a key other than the primary one, completing a
// key rotation (NewSealer(newKey, oldKey), Reseal, then drop oldKey). It returns how many.
func (r *Repo) Reseal(ctx context.Context) (int, error) {
	tx, err := r.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer func() { _ = tx.Rollback() }()
	rows, err := tx.QueryContext(ctx, `SELECT arn, version_id, sealed FROM secret_versions WHERE key_id <> ?`, r.sealer.PrimaryKeyID())
	if err != nil {
		return 0, err
	}
	type row struct {
		arn, version string
		sealed       []byte
	}
	var todo []row
	for rows.Next() {
		var x row
		if err := rows.Scan(&x.arn, &x.version, &x.sealed); err != nil {
			rows.Close()
			return 0, err
		}
		todo = append(todo, x)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	for _, x := range todo {
		plain, err := r.sealer.Open(x.sealed, aad(x.arn, x.version))
		if err != nil {
			return 0, fmt.Errorf("secret %s version %s: %w", x.arn, x.version, err)
		}
		sealed, err := r.sealer.Seal(plain, aad(x.arn, x.version))
		if err != nil {
			return 0, err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE secret_versions SET sealed = ?, key_id = ? WHERE arn = ? AND version_id = ?`,
			sealed, r.sealer.PrimaryKeyID(), x.arn, x.version); err != nil {
			return 0, err
		}
	}
	return len(todo), tx.Commit()
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// ValidName reports whether name is a valid Secrets Manager secret name: 1-512 characters of
// ASCII letters, digits and /_+=.@-.
func ValidName(name string) bool {
	if name == "" || len(name) > 512 {
		return false
	}
	return strings.Trim(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/_+=.@-") == ""
}
