-- NULLs in columns the source declares NOT NULL, one scan per table.
-- ${null_counts}: SUM(CASE WHEN <col> IS NULL THEN 1 ELSE 0 END) AS n_<i> [, ...]
SELECT ${null_counts}
FROM ${table}
