package store

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/kafkaesm/kafkaesm/internal/function"
)

// DocSealer encrypts documents at rest, bound to associated data (secrets.Sealer implements it).
type DocSealer interface {
	Seal(plaintext, aad []byte) ([]byte, error)
	Open(sealed, aad []byte) ([]byte, error)
}

// sealedDocPrefix marks a function document encrypted by SealFunctions: the prefix, then the
// base64 of the sealed JSON. A plain document is JSON and starts with '{', so the two never mix
// up; a new layout gets a new prefix.
const sealedDocPrefix = "sealed1:"

// ErrSealedDoc is returned when a function document is encrypted and the store has no key.
var ErrSealedDoc = errors.New("function document is encrypted and the store was opened without the secret key")

func functionAAD(name string) []byte { return []byte("kafkaesm/function/" + name) }

// SealFunctions makes the store encrypt function documents (they hold the functions'
// environment variables) with sealer from now on, and re-writes every document still stored
// in plain text, sealed. It returns how many it re-wrote. Call it once, before the store is
// used by anything else.
func (s *SQLite) SealFunctions(ctx context.Context, sealer DocSealer) (int, error) {
	s.seal = sealer
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer func() { _ = tx.Rollback() }()
	rows, err := tx.QueryContext(ctx, `SELECT name, doc FROM functions WHERE doc NOT LIKE ?`, sealedDocPrefix+"%")
	if err != nil {
		return 0, err
	}
	plain := map[string]string{}
	for rows.Next() {
		var name, doc string
		if err := rows.Scan(&name, &doc); err != nil {
			rows.Close()
			return 0, err
		}
		plain[name] = doc
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return 0, err
	}
	for name, doc := range plain {
		sealed, err := s.sealDoc(name, []byte(doc))
		if err != nil {
			return 0, err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE functions SET doc = ? WHERE name = ?`, sealed, name); err != nil {
			return 0, err
		}
	}
	// Published versions hold the same variables.
	type ver struct {
		name    string
		version int64
	}
	plainVersions := map[ver]string{}
	rows, err = tx.QueryContext(ctx, `SELECT name, version, doc FROM function_versions WHERE doc NOT LIKE ?`, sealedDocPrefix+"%")
	if err != nil {
		return 0, err
	}
	for rows.Next() {
		var v ver
		var doc string
		if err := rows.Scan(&v.name, &v.version, &doc); err != nil {
			rows.Close()
			return 0, err
		}
		plainVersions[v] = doc
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return 0, err
	}
	for v, doc := range plainVersions {
		sealed, err := s.sealDoc(versionDocName(v.name, v.version), []byte(doc))
		if err != nil {
			return 0, err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE function_versions SET doc = ? WHERE name = ? AND version = ?`, sealed, v.name, v.version); err != nil {
			return 0, err
		}
	}
	return len(plain) + len(plainVersions), tx.Commit()
}

// functionDoc is f's stored document: its JSON, sealed when the store has a sealer.
func (s *SQLite) functionDoc(f *function.Function) (string, error) {
	doc, err := json.Marshal(f)
	if err != nil {
		return "", err
	}
	return s.sealDoc(f.FunctionName, doc)
}

func (s *SQLite) sealDoc(name string, doc []byte) (string, error) {
	if s.seal == nil {
		return string(doc), nil
	}
	sealed, err := s.seal.Seal(doc, functionAAD(name))
	if err != nil {
		return "", fmt.Errorf("seal function %s: %w", name, err)
	}
	return sealedDocPrefix + base64.StdEncoding.EncodeToString(sealed), nil
}

// openDoc returns the JSON of a stored document, plain or sealed.
func (s *SQLite) openDoc(name, doc string) ([]byte, error) {
	b64, ok := strings.CutPrefix(doc, sealedDocPrefix)
	if !ok {
		return []byte(doc), nil
	}
	if s.seal == nil {
		return nil, ErrSealedDoc
	}
	sealed, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, fmt.Errorf("function %s: stored document is corrupted", name)
	}
	plain, err := s.seal.Open(sealed, functionAAD(name))
	if err != nil {
		return nil, fmt.Errorf("function %s: %w", name, err)
	}
	return plain, nil
}
