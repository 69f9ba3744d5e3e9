package store

import (
	"context"
	"database/sql"
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
	n, err := s.sealPlainDocs(ctx, tx, "functions", "0", func(name string, _ int64) string { return name })
	if err != nil {
		return 0, err
	}
	// Published versions hold the same variables.
	k, err := s.sealPlainDocs(ctx, tx, "function_versions", "version", versionDocName)
	if err != nil {
		return 0, err
	}
	return n + k, tx.Commit()
}

// sealPlainDocs seals, inside tx, the documents of table still stored in plain text and
// returns how many. version is the SQL of a row's version number ("0" for a table without);
// docName names a row's document for sealing from its name and version.
func (s *SQLite) sealPlainDocs(ctx context.Context, tx *sql.Tx, table, version string, docName func(name string, version int64) string) (int, error) {
	rows, err := tx.QueryContext(ctx, `SELECT rowid, name, `+version+`, doc FROM `+table+` WHERE doc NOT LIKE ?`, sealedDocPrefix+"%")
	if err != nil {
		return 0, err
	}
	type plainDoc struct{ name, doc string }
	plain := map[int64]plainDoc{}
	for rows.Next() {
		var id, v int64
		var name, doc string
		if err := rows.Scan(&id, &name, &v, &doc); err != nil {
			rows.Close()
			return 0, err
		}
		plain[id] = plainDoc{docName(name, v), doc}
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return 0, err
	}
	for id, d := range plain {
		sealed, err := s.sealDoc(d.name, []byte(d.doc))
		if err != nil {
			return 0, err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE `+table+` SET doc = ? WHERE rowid = ?`, sealed, id); err != nil {
			return 0, err
		}
	}
	return len(plain), nil
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
