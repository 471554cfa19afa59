-- Rows with a NULL in a column the source declares NOT NULL (or a key column), one scan per table.
-- ${any_null}:    <col> IS NULL [OR ...]
-- ${null_counts}: SUM(CASE WHEN <col> IS NULL THEN 1 ELSE 0 END) AS n_<i> [, ...], per column
SELECT COUNT(*) AS violations, ${null_counts}
FROM ${table}
WHERE ${any_null}
