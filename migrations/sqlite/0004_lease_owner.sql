-- Who holds a lease ("host:pid"): a process on the same host can see that the holder died
-- (SIGKILL, crash) and take its deliveries at once instead of waiting for the lease to end.
ALTER TABLE deliveries ADD COLUMN lease_owner TEXT;
