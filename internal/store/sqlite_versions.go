package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/kafkaesm/kafkaesm/internal/function"
)

// --- function versions ---

type rowQuerier interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}

func (s *SQLite) PublishVersion(ctx context.Context, name string, fn func(latest, newest *function.Function) (*function.Function, error)) (*function.Function, bool, error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, false, err
	}
	defer func() { _ = tx.Rollback() }()
	latest, err := s.getFunction(ctx, tx, name)
	if err != nil {
		return nil, false, err
	}
	var last int64
	if err := tx.QueryRowContext(ctx, `SELECT last_version FROM functions WHERE name = ?`, name).Scan(&last); err != nil {
		return nil, false, err
	}
	var newest *function.Function
	var top sql.NullInt64
	if err := tx.QueryRowContext(ctx, `SELECT max(version) FROM function_versions WHERE name = ?`, name).Scan(&top); err != nil {
		return nil, false, err
	}
	if top.Valid {
		if newest, err = s.getVersion(ctx, tx, name, top.Int64); err != nil {
			return nil, false, err
		}
	}
	v, err := fn(latest, newest)
	if err != nil {
		return nil, false, err
	}
	if v == nil {
		return newest, false, nil
	}
	n := last + 1
	v.FunctionName = name
	v.Numbered(strconv.FormatInt(n, 10))
	plain, err := json.Marshal(v)
	if err != nil {
		return nil, false, err
	}
	doc, err := s.sealDoc(versionDocName(name, n), plain)
	if err != nil {
		return nil, false, err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO function_versions (name, version, code_dir, doc) VALUES (?, ?, ?, ?)`, name, n, v.CodeDir, doc); err != nil {
		return nil, false, err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE functions SET last_version = ? WHERE name = ?`, n, name); err != nil {
		return nil, false, err
	}
	if err := tx.Commit(); err != nil {
		return nil, false, err
	}
	v.ReservedConcurrentExecutions = latest.ReservedConcurrentExecutions
	return v, true, nil
}

// versionDocName names a version's document for sealing: its authenticated data binds the
// sealed document to the function and the version number.
func versionDocName(name string, version int64) string {
	return name + ":" + strconv.FormatInt(version, 10)
}

// getVersion reads a version with the function's current reserved concurrency.
func (s *SQLite) getVersion(ctx context.Context, q rowQuerier, name string, version int64) (*function.Function, error) {
	var doc, dir string
	var reserved sql.NullInt64
	err := q.QueryRowContext(ctx, `SELECT v.doc, f.reserved_concurrency, v.code_dir FROM function_versions v JOIN functions f ON f.name = v.name WHERE v.name = ? AND v.version = ?`, name, version).Scan(&doc, &reserved, &dir)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return s.decodeFunction(versionDocName(name, version), doc, reserved, dir)
}

// parseVersion reads a version number as published ("1", "2", …). Any other spelling of a
// number ("01") names no version: aliases are matched by their version string, so "01" taken
// for version 1 would let version 1 be deleted under an alias on "01".
func parseVersion(v string) (int64, bool) {
	if !function.IsVersion(v) {
		return 0, false
	}
	n, err := strconv.ParseInt(v, 10, 64)
	return n, err == nil && n > 0 && strconv.FormatInt(n, 10) == v
}

func (s *SQLite) GetFunctionVersion(ctx context.Context, name, version string) (*function.Function, error) {
	if version == function.Latest {
		return s.GetFunction(ctx, name)
	}
	n, ok := parseVersion(version)
	if !ok {
		return nil, ErrNotFound
	}
	return s.getVersion(ctx, s.r, name, n)
}

func (s *SQLite) ListFunctionVersions(ctx context.Context, name string, p Page) ([]*function.Function, string, error) {
	var doc, dir string
	var reserved sql.NullInt64
	return listPage(p, 50, func(after int64, n int) (*sql.Rows, error) {
		return s.r.QueryContext(ctx, `SELECT v.version, v.doc, f.reserved_concurrency, v.code_dir FROM function_versions v JOIN functions f ON f.name = v.name
		WHERE v.name = ? AND v.version > ? ORDER BY v.version LIMIT ?`, name, after, n)
	}, []any{&doc, &reserved, &dir}, func(seq int64) (*function.Function, error) {
		return s.decodeFunction(versionDocName(name, seq), doc, reserved, dir)
	})
}

func (s *SQLite) DeleteFunctionVersion(ctx context.Context, name, version string) error {
	n, ok := parseVersion(version)
	if !ok {
		return ErrNotFound
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	users, err := aliasNames(ctx, tx, name, version)
	if err != nil {
		return err
	}
	if len(users) > 0 {
		return &VersionInUseError{Aliases: users}
	}
	res, err := tx.ExecContext(ctx, `DELETE FROM function_versions WHERE name = ? AND version = ?`, name, n)
	if err != nil {
		return err
	}
	if k, _ := res.RowsAffected(); k == 0 {
		return ErrNotFound
	}
	return tx.Commit()
}

// aliasNames lists the aliases of name that point at version, sorted.
func aliasNames(ctx context.Context, q querier, name, version string) ([]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT alias FROM function_aliases WHERE name = ? AND (version = ? OR extra_version = ?)`, name, version, version)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var a string
		if err := rows.Scan(&a); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	slices.Sort(out)
	return out, rows.Err()
}

// --- aliases ---

func extraVersion(a *function.Alias) string {
	if vs := a.Versions(); len(vs) > 1 {
		return vs[1]
	}
	return ""
}

// checkAliasVersions makes sure every version a names exists, inside tx.
func checkAliasVersions(ctx context.Context, tx *sql.Tx, name string, a *function.Alias) error {
	for _, v := range a.Versions() {
		if v == function.Latest {
			continue
		}
		n, ok := parseVersion(v)
		var k int
		if ok {
			if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM function_versions WHERE name = ? AND version = ?`, name, n).Scan(&k); err != nil {
				return err
			}
		}
		if k == 0 {
			return &MissingVersionError{Version: v}
		}
	}
	return nil
}

func functionExists(ctx context.Context, tx *sql.Tx, name string) error {
	var k int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM functions WHERE name = ?`, name).Scan(&k); err != nil {
		return err
	}
	if k == 0 {
		return ErrNotFound
	}
	return nil
}

func (s *SQLite) CreateAlias(ctx context.Context, name string, a *function.Alias) error {
	doc, err := json.Marshal(a)
	if err != nil {
		return err
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	if err := functionExists(ctx, tx, name); err != nil {
		return err
	}
	if err := checkAliasVersions(ctx, tx, name, a); err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO function_aliases (name, alias, version, extra_version, doc) VALUES (?, ?, ?, ?, ?)`,
		name, a.Name, a.FunctionVersion, extraVersion(a), string(doc))
	if isUnique(err) {
		return ErrExists
	}
	if err != nil {
		return err
	}
	return tx.Commit()
}

func decodeAlias(doc string) (*function.Alias, error) {
	a := new(function.Alias)
	if err := json.Unmarshal([]byte(doc), a); err != nil {
		return nil, fmt.Errorf("decode alias: %w", err)
	}
	return a, nil
}

func getAlias(ctx context.Context, q rowQuerier, name, alias string) (*function.Alias, error) {
	var doc string
	err := q.QueryRowContext(ctx, `SELECT doc FROM function_aliases WHERE name = ? AND alias = ?`, name, alias).Scan(&doc)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return decodeAlias(doc)
}

func (s *SQLite) GetAlias(ctx context.Context, name, alias string) (*function.Alias, error) {
	return getAlias(ctx, s.r, name, alias)
}

func (s *SQLite) ListAliases(ctx context.Context, name, version string, p Page) ([]*function.Alias, string, error) {
	var doc string
	return listPage(p, 50, func(after int64, n int) (*sql.Rows, error) {
		q := `SELECT seq, doc FROM function_aliases WHERE name = ? AND seq > ?`
		args := []any{name, after}
		if version != "" {
			q += ` AND (version = ? OR extra_version = ?)`
			args = append(args, version, version)
		}
		return s.r.QueryContext(ctx, q+` ORDER BY seq LIMIT ?`, append(args, n)...)
	}, []any{&doc}, func(int64) (*function.Alias, error) {
		return decodeAlias(doc)
	})
}

func (s *SQLite) UpdateAlias(ctx context.Context, name, alias string, fn func(*function.Alias) error) (*function.Alias, error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer func() { _ = tx.Rollback() }()
	a, err := getAlias(ctx, tx, name, alias)
	if err != nil {
		return nil, err
	}
	if err := fn(a); err != nil {
		return nil, err
	}
	a.Name = alias
	if err := checkAliasVersions(ctx, tx, name, a); err != nil {
		return nil, err
	}
	doc, err := json.Marshal(a)
	if err != nil {
		return nil, err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE function_aliases SET version = ?, extra_version = ?, doc = ? WHERE name = ? AND alias = ?`,
		a.FunctionVersion, extraVersion(a), string(doc), name, alias); err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	return a, nil
}

func (s *SQLite) DeleteAlias(ctx context.Context, name, alias string) error {
	res, err := s.w.ExecContext(ctx, `DELETE FROM function_aliases WHERE name = ? AND alias = ?`, name, alias)
	if err != nil {
		return err
	}
	if k, _ := res.RowsAffected(); k == 0 {
		return ErrNotFound
	}
	return nil
}
