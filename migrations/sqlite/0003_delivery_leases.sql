-- A delivery being sent is leased (status 'sending' until `lease_until`), so two processes
-- (a `send` and a `retry`, or overlapping runs) never send the same row; a lease left by a
-- process that died runs out and the row is taken up again.
ALTER TABLE deliveries ADD COLUMN lease_until TEXT;
