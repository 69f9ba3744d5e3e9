-- Published function versions and aliases (issue 19).
-- last_version: the highest version number ever published; numbers are never reused, even
-- after the version is deleted, as in Lambda.
ALTER TABLE functions ADD COLUMN last_version INTEGER NOT NULL DEFAULT 0;

-- A version: an immutable snapshot of the function's configuration (JSON) and its code dir.
CREATE TABLE function_versions (
    name     TEXT    NOT NULL,
    version  INTEGER NOT NULL,
    code_dir TEXT    NOT NULL,
    doc      TEXT    NOT NULL,
    PRIMARY KEY (name, version)
);

-- An alias: a name pointing at a version ($LATEST or a number), optionally with a second,
-- weighted one (the JSON doc's RoutingConfig; extra_version repeats it for queries).
CREATE TABLE function_aliases (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    name          TEXT NOT NULL,
    alias         TEXT NOT NULL,
    version       TEXT NOT NULL,
    extra_version TEXT NOT NULL DEFAULT '',
    doc           TEXT NOT NULL,
    UNIQUE (name, alias)
);
