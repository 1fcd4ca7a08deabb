-- One row per (report, period, generation): generation 0 is the normal run; `send --force`
-- adds generation 1, 2, … so a forced re-send is a new, logged run, never an overwrite.
CREATE TABLE runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    report TEXT NOT NULL,
    period TEXT NOT NULL,
    generation INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL,              -- running | done | skipped | failed
    note TEXT,                         -- why skipped, what failed, forced by whom
    fingerprint TEXT,                  -- goal statuses, for send_if: changed
    started_at TEXT NOT NULL,          -- RFC 3339, UTC
    finished_at TEXT,
    UNIQUE (report, period, generation)
);

-- One row per (run, channel, recipient): the unit that is sent once.
CREATE TABLE deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id INTEGER NOT NULL REFERENCES runs (id),
    channel TEXT NOT NULL,
    recipient TEXT NOT NULL,
    status TEXT NOT NULL,              -- pending | sent | failed
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    next_attempt_at TEXT NOT NULL,
    created_at TEXT NOT NULL,
    sent_at TEXT,
    remote_id TEXT,                    -- Message-ID, HTTP status and body, outbox file
    payload TEXT NOT NULL,             -- what to send, rendered once (JSON)
    UNIQUE (run_id, channel, recipient)
);

CREATE INDEX deliveries_due ON deliveries (status, next_attempt_at);
