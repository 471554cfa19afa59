-- Duplicate values of a key that must be unique (PRIMARY KEY, UNIQUE, unique index).
-- Rows with a NULL in any key column are excluded: NULLs never collide under UNIQUE.
-- violations: the rows carrying a repeated key value; n_groups: how many distinct values repeat.
SELECT COALESCE(SUM(d.n), 0) AS violations, COUNT(*) AS n_groups
FROM (
    SELECT COUNT(*) AS n
    FROM ${table}
    WHERE ${not_null}
    GROUP BY ${columns}
    HAVING COUNT(*) > 1
) d
