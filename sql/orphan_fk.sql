-- Orphan foreign keys: child rows whose FK columns are all non-NULL and match no parent row.
-- A partly NULL composite key is not checked (MATCH SIMPLE, every engine's default).
-- ${join_on}:        c.<fk col> = p.<ref col> [AND ...]
-- ${child_not_null}: c.<fk col> IS NOT NULL [AND ...]
-- ${parent_key}:     p.<first ref col>; NULL after the LEFT JOIN exactly when no parent matched
SELECT COUNT(*) AS violations
FROM ${child} c
LEFT JOIN ${parent} p ON ${join_on}
WHERE ${child_not_null}
  AND ${parent_key} IS NULL
