-- Secrets Manager secrets. Values live only sealed (AES-256-GCM, see sealer.go) in
-- secret_versions.sealed; nothing else in this file holds secret material.
CREATE TABLE secrets (
    seq              INTEGER PRIMARY KEY AUTOINCREMENT,
    arn              TEXT    NOT NULL UNIQUE,
    name             TEXT    NOT NULL UNIQUE,
    description      TEXT    NOT NULL DEFAULT '',
    kms_key_id       TEXT    NOT NULL DEFAULT '',
    tags             TEXT    NOT NULL DEFAULT '{}', -- JSON object
    created_at       INTEGER NOT NULL,              -- unix milliseconds
    last_changed_at  INTEGER NOT NULL,
    deleted_at       INTEGER,                       -- scheduled deletion (DeleteSecret without force)
    current_version  TEXT    NOT NULL DEFAULT '',
    previous_version TEXT    NOT NULL DEFAULT ''
);

CREATE TABLE secret_versions (
    arn        TEXT    NOT NULL REFERENCES secrets (arn) ON DELETE CASCADE,
    version_id TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    binary     INTEGER NOT NULL, -- 1: SecretBinary, 0: SecretString
    key_id     TEXT    NOT NULL, -- which sealing key; lets a rotation find rows to re-seal
    sealed     BLOB    NOT NULL,
    PRIMARY KEY (arn, version_id)
);
