-- The privacy ledger dbsynth writes into every shadow database: at least one entry, and no
-- entry whose epsilon exceeds the bound.
-- ${over_bound}: epsilon > <requested epsilon>, or 1 = 0 when no bound was given (presence only)
SELECT CASE WHEN COUNT(*) = 0 THEN 1 ELSE 0 END
       + COALESCE(SUM(CASE WHEN ${over_bound} THEN 1 ELSE 0 END), 0) AS violations
FROM ${ledger}
