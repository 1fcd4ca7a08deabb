-- A report's rendered content is stored once per (run, channel) and shared by all its
-- recipients' deliveries (1,000 recipients no longer mean 1,000 copies of the HTML).
CREATE TABLE payloads (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id INTEGER NOT NULL REFERENCES runs (id),
    channel TEXT NOT NULL,
    body TEXT NOT NULL
);

ALTER TABLE deliveries ADD COLUMN payload_id INTEGER REFERENCES payloads (id);
