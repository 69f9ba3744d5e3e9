package store

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"

	_ "modernc.org/sqlite" // driver "sqlite", pure Go

	"github.com/kafkaesm/kafkaesm/internal/function"
	"github.com/kafkaesm/kafkaesm/internal/mapping"
)

// FileName is the database file inside the data dir.
const FileName = "kafkaesm.db"

// SQLite is the embedded Store. Writes go through one connection (SQLite allows one writer;
// serialising them in database/sql avoids SQLITE_BUSY); reads use a separate pool, which WAL
// lets run next to the writer.
type SQLite struct {
	w *sql.DB // one connection: all writes and read-modify-write transactions
	r *sql.DB // read pool
	// seal encrypts function documents (they hold environment variables); set once by
	// SealFunctions before the store is shared.
	seal DocSealer
}

var _ Store = (*SQLite)(nil)

// OpenSQLite opens (creating if needed) dataDir/kafkaesm.db and applies pending migrations.
func OpenSQLite(ctx context.Context, dataDir string) (*SQLite, error) {
	return OpenSQLiteFile(ctx, filepath.Join(dataDir, FileName))
}

// OpenSQLiteFile is OpenSQLite for an explicit file path.
func OpenSQLiteFile(ctx context.Context, path string) (*SQLite, error) {
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() +
		"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_txlock=immediate"
	w, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	if err := w.PingContext(ctx); err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if err := Migrate(ctx, w, Migrations); err != nil {
		_ = w.Close()
		return nil, err
	}
	r, err := sql.Open("sqlite", dsn)
	if err != nil {
		_ = w.Close()
		return nil, err
	}
	r.SetMaxOpenConns(4)
	return &SQLite{w: w, r: r}, nil
}

// DB returns the write handle, for components (secrets) that keep their own tables in the
// same file through their own migrations (versions 0100-0199 are reserved for them).
func (s *SQLite) DB() *sql.DB { return s.w }

// Close closes both pools.
func (s *SQLite) Close() error { return errors.Join(s.r.Close(), s.w.Close()) }

func isUnique(err error) bool {
	return err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed")
}

func encodeMarker(seq int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte("s" + strconv.FormatInt(seq, 10)))
}

func decodeMarker(m string) (int64, error) {
	if m == "" {
		return 0, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(m)
	if err != nil || len(b) < 2 || b[0] != 's' {
		return 0, ErrBadMarker
	}
	n, err := strconv.ParseInt(string(b[1:]), 10, 64)
	if err != nil || n < 0 {
		return 0, ErrBadMarker
	}
	return n, nil
}

// listPage reads one page of a List whose rows are ordered by a seq after p.Marker: at most
// p.Limit items (def when unset), and the marker of the next page ("" on the last). query
// runs the SELECT for rows after seq after, at most n of them (one more than the page, to
// tell whether another page follows); each row's first column is its seq and the rest are
// scanned into cols, from which decode makes the row's item.
func listPage[T any](p Page, def int, query func(after int64, n int) (*sql.Rows, error), cols []any, decode func(seq int64) (T, error)) ([]T, string, error) {
	after, err := decodeMarker(p.Marker)
	if err != nil {
		return nil, "", err
	}
	limit := p.Limit
	if limit <= 0 {
		limit = def
	}
	rows, err := query(after, limit+1)
	if err != nil {
		return nil, "", err
	}
	defer rows.Close()
	var out []T
	var lastSeq int64
	next := ""
	for rows.Next() {
		var seq int64
		if err := rows.Scan(append([]any{&seq}, cols...)...); err != nil {
			return nil, "", err
		}
		if len(out) == limit {
			next = encodeMarker(lastSeq)
			break
		}
		v, err := decode(seq)
		if err != nil {
			return nil, "", err
		}
		out = append(out, v)
		lastSeq = seq
	}
	return out, next, rows.Err()
}

// --- mappings ---

func decodeMapping(doc string, enabled bool, revision int64) (*mapping.EventSourceMapping, error) {
	m := new(mapping.EventSourceMapping)
	if err := json.Unmarshal([]byte(doc), m); err != nil {
		return nil, fmt.Errorf("decode mapping: %w", err)
	}
	m.Enabled = enabled
	m.Revision = revision
	return m, nil
}

func (s *SQLite) CreateMapping(ctx context.Context, m *mapping.EventSourceMapping, check func([]*mapping.EventSourceMapping) error) error {
	doc, err := json.Marshal(m)
	if err != nil {
		return err
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	base := function.UnqualifiedArn(m.FunctionArn)
	if check != nil {
		others, err := queryMappings(ctx, tx, `SELECT doc, enabled, revision FROM mappings WHERE function_base = ? AND topic = ? ORDER BY seq`, base, firstTopic(m))
		if err != nil {
			return err
		}
		if err := check(others); err != nil {
			return err
		}
	}
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM mappings WHERE uuid = ?`, m.UUID).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return ErrExists
	}
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM mappings WHERE group_id = ?`, m.GroupID()).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return ErrGroupIDTaken
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO mappings (uuid, function_arn, function_base, topic, group_id, enabled, revision, doc) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		m.UUID, m.FunctionArn, base, firstTopic(m), m.GroupID(), m.Enabled, m.Revision, string(doc))
	if err != nil {
		if isUnique(err) {
			return ErrGroupIDTaken
		}
		return err
	}
	return tx.Commit()
}

func firstTopic(m *mapping.EventSourceMapping) string {
	if len(m.Topics) == 0 {
		return ""
	}
	return m.Topics[0]
}

type querier interface {
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
}

func queryMappings(ctx context.Context, q querier, query string, args ...any) ([]*mapping.EventSourceMapping, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*mapping.EventSourceMapping
	for rows.Next() {
		var doc string
		var enabled bool
		var rev int64
		if err := rows.Scan(&doc, &enabled, &rev); err != nil {
			return nil, err
		}
		m, err := decodeMapping(doc, enabled, rev)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

func (s *SQLite) GetMapping(ctx context.Context, uuid string) (*mapping.EventSourceMapping, error) {
	var doc string
	var enabled bool
	var rev int64
	err := s.r.QueryRowContext(ctx, `SELECT doc, enabled, revision FROM mappings WHERE uuid = ?`, uuid).Scan(&doc, &enabled, &rev)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return decodeMapping(doc, enabled, rev)
}

func (s *SQLite) ListMappings(ctx context.Context, f MappingFilter, p Page) ([]*mapping.EventSourceMapping, string, error) {
	var rev int64
	var doc string
	var enabled bool
	return listPage(p, 100, func(after int64, n int) (*sql.Rows, error) {
		q := `SELECT seq, doc, enabled, revision FROM mappings WHERE seq > ?`
		args := []any{after}
		if f.FunctionArn != "" {
			q += ` AND (function_arn = ? OR function_base = ?)`
			args = append(args, f.FunctionArn, f.FunctionArn)
		}
		q += ` ORDER BY seq LIMIT ?`
		args = append(args, n)
		return s.r.QueryContext(ctx, q, args...)
	}, []any{&doc, &enabled, &rev}, func(int64) (*mapping.EventSourceMapping, error) {
		return decodeMapping(doc, enabled, rev)
	})
}

func (s *SQLite) UpdateMapping(ctx context.Context, uuid string, fn func(*mapping.EventSourceMapping) error) (*mapping.EventSourceMapping, error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer func() { _ = tx.Rollback() }()
	ms, err := queryMappings(ctx, tx, `SELECT doc, enabled, revision FROM mappings WHERE uuid = ?`, uuid)
	if err != nil {
		return nil, err
	}
	if len(ms) == 0 {
		return nil, ErrNotFound
	}
	m := ms[0]
	if err := fn(m); err != nil {
		return nil, err
	}
	m.UUID = uuid
	doc, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	_, err = tx.ExecContext(ctx, `UPDATE mappings SET function_arn = ?, function_base = ?, group_id = ?, enabled = ?, revision = ?, doc = ? WHERE uuid = ?`,
		m.FunctionArn, function.UnqualifiedArn(m.FunctionArn), m.GroupID(), m.Enabled, m.Revision, string(doc), uuid)
	if err != nil {
		if isUnique(err) {
			return nil, ErrGroupIDTaken
		}
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	return m, nil
}

func (s *SQLite) SetMappingStatus(ctx context.Context, uuid string, st Status) error {
	_, err := s.UpdateMapping(ctx, uuid, func(m *mapping.EventSourceMapping) error {
		if st.State != "" {
			m.State = st.State
		}
		if st.StateTransitionReason != "" {
			m.StateTransitionReason = st.StateTransitionReason
		}
		if st.LastProcessingResult != "" {
			m.LastProcessingResult = st.LastProcessingResult
			m.KafkaesmLastProcessingCause = st.LastProcessingCause
		}
		return nil
	})
	return err
}

func (s *SQLite) DeleteMapping(ctx context.Context, uuid string) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	var doc string
	err = tx.QueryRowContext(ctx, `SELECT doc FROM mappings WHERE uuid = ?`, uuid).Scan(&doc)
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	if err != nil {
		return err
	}
	m, err := decodeMapping(doc, false, 0)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM mappings WHERE uuid = ?`, uuid); err != nil {
		return err
	}
	if m.EventSourceMappingArn != "" {
		if _, err := tx.ExecContext(ctx, `DELETE FROM tags WHERE arn = ?`, m.EventSourceMappingArn); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// --- functions ---

func (s *SQLite) decodeFunction(name, doc string, reserved sql.NullInt64, codeDir string) (*function.Function, error) {
	plain, err := s.openDoc(name, doc)
	if err != nil {
		return nil, err
	}
	f := new(function.Function)
	if err := json.Unmarshal(plain, f); err != nil {
		return nil, fmt.Errorf("decode function: %w", err)
	}
	if reserved.Valid {
		n := int(reserved.Int64)
		f.ReservedConcurrentExecutions = &n
	}
	f.CodeDir = codeDir
	return f, nil
}

func reservedValue(f *function.Function) any {
	if f.ReservedConcurrentExecutions == nil {
		return nil
	}
	return int64(*f.ReservedConcurrentExecutions)
}

func (s *SQLite) CreateFunction(ctx context.Context, f *function.Function) error {
	doc, err := s.functionDoc(f)
	if err != nil {
		return err
	}
	_, err = s.w.ExecContext(ctx, `INSERT INTO functions (name, reserved_concurrency, code_dir, doc) VALUES (?, ?, ?, ?)`,
		f.FunctionName, reservedValue(f), f.CodeDir, doc)
	if isUnique(err) {
		return ErrExists
	}
	return err
}

func (s *SQLite) getFunction(ctx context.Context, q rowQuerier, name string) (*function.Function, error) {
	var doc, dir string
	var reserved sql.NullInt64
	err := q.QueryRowContext(ctx, `SELECT doc, reserved_concurrency, code_dir FROM functions WHERE name = ?`, name).Scan(&doc, &reserved, &dir)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return s.decodeFunction(name, doc, reserved, dir)
}

func (s *SQLite) GetFunction(ctx context.Context, name string) (*function.Function, error) {
	return s.getFunction(ctx, s.r, name)
}

func (s *SQLite) ListFunctions(ctx context.Context, p Page) ([]*function.Function, string, error) {
	var name, doc, dir string
	var reserved sql.NullInt64
	return listPage(p, 50, func(after int64, n int) (*sql.Rows, error) {
		return s.r.QueryContext(ctx, `SELECT seq, name, doc, reserved_concurrency, code_dir FROM functions WHERE seq > ? ORDER BY seq LIMIT ?`, after, n)
	}, []any{&name, &doc, &reserved, &dir}, func(int64) (*function.Function, error) {
		return s.decodeFunction(name, doc, reserved, dir)
	})
}

func (s *SQLite) UpdateFunction(ctx context.Context, name string, fn func(*function.Function) error) (*function.Function, error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer func() { _ = tx.Rollback() }()
	f, err := s.getFunction(ctx, tx, name)
	if err != nil {
		return nil, err
	}
	if err := fn(f); err != nil {
		return nil, err
	}
	f.FunctionName = name
	doc, err := s.functionDoc(f)
	if err != nil {
		return nil, err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE functions SET reserved_concurrency = ?, code_dir = ?, doc = ? WHERE name = ?`,
		reservedValue(f), f.CodeDir, doc, name); err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	return f, nil
}

func (s *SQLite) DeleteFunction(ctx context.Context, name string) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	f, err := s.getFunction(ctx, tx, name)
	if err != nil {
		return err
	}
	for _, q := range []string{`DELETE FROM functions WHERE name = ?`, `DELETE FROM function_versions WHERE name = ?`, `DELETE FROM function_aliases WHERE name = ?`} {
		if _, err := tx.ExecContext(ctx, q, name); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM tags WHERE arn = ?`, f.FunctionArn); err != nil {
		return err
	}
	return tx.Commit()
}

// --- tags ---

func (s *SQLite) TagResource(ctx context.Context, arn string, tags map[string]string) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	for k, v := range tags {
		if _, err := tx.ExecContext(ctx, `INSERT INTO tags (arn, key, value) VALUES (?, ?, ?) ON CONFLICT (arn, key) DO UPDATE SET value = excluded.value`, arn, k, v); err != nil {
			return err
		}
	}
	return tx.Commit()
}

func (s *SQLite) UntagResource(ctx context.Context, arn string, keys []string) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	for _, k := range keys {
		if _, err := tx.ExecContext(ctx, `DELETE FROM tags WHERE arn = ? AND key = ?`, arn, k); err != nil {
			return err
		}
	}
	return tx.Commit()
}

func (s *SQLite) ListTags(ctx context.Context, arn string) (map[string]string, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT key, value FROM tags WHERE arn = ?`, arn)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return nil, err
		}
		out[k] = v
	}
	return out, rows.Err()
}
