-- The newest privacy ledger entry the writer stored in the target.
SELECT *
FROM ${ledger}
ORDER BY ${id} DESC
LIMIT 1
