-- Event source mappings: the whole model as JSON plus the columns we query on.
CREATE TABLE mappings (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid         TEXT    NOT NULL UNIQUE,
    function_arn TEXT    NOT NULL, -- as given, qualifier kept
    function_base TEXT   NOT NULL, -- unqualified function ARN
    topic        TEXT    NOT NULL, -- the mapping's one topic
    group_id     TEXT    NOT NULL UNIQUE,
    enabled      INTEGER NOT NULL,
    revision     INTEGER NOT NULL,
    doc          TEXT    NOT NULL
);
CREATE INDEX mappings_function_arn ON mappings (function_arn);
CREATE INDEX mappings_function_base ON mappings (function_base, topic);

-- Functions: configuration as JSON; reserved concurrency and the code directory are not wire members.
CREATE TABLE functions (
    seq                  INTEGER PRIMARY KEY AUTOINCREMENT,
    name                 TEXT    NOT NULL UNIQUE,
    reserved_concurrency INTEGER,
    code_dir             TEXT    NOT NULL,
    doc                  TEXT    NOT NULL
);

-- Tags of any resource (mapping or function), keyed by its unqualified ARN.
CREATE TABLE tags (
    arn   TEXT NOT NULL,
    key   TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (arn, key)
);
