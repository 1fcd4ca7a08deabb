-- What the daemon needs to survive restarts:
-- the last fire time handled per report (catch-up knows what it missed from it),
-- each alert goal's last judged severity and when it last alerted (no nagging),
-- and who runs a run (a run left `running` by a dead local process is taken up at once).
CREATE TABLE schedule_marks (
    report TEXT PRIMARY KEY,
    fired_at TEXT NOT NULL
);
CREATE TABLE alert_states (
    report TEXT NOT NULL,
    goal TEXT NOT NULL,
    last_severity INTEGER NOT NULL,
    alerted_severity INTEGER,
    alerted_at TEXT,
    PRIMARY KEY (report, goal)
);
ALTER TABLE runs ADD COLUMN owner TEXT;
