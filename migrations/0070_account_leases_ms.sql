-- Account leases timed in milliseconds of the database's clock (was whole seconds), so a
-- lease may last 1.5 s and a takeover need not wait for a second's rounding. Renamed so
-- that a statement still counting in seconds fails loudly instead of comparing units.
ALTER TABLE account_leases RENAME COLUMN lease_until TO lease_until_ms;
UPDATE account_leases SET lease_until_ms = lease_until_ms * 1000;
