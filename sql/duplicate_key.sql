-- Duplicate values of a key that must be unique (PRIMARY KEY, UNIQUE, unique index).
-- Rows with a NULL in any key column are excluded: NULLs never collide under UNIQUE.
-- n_groups: distinct key values that occur more than once; n_rows: the rows that carry them.
SELECT COUNT(*) AS n_groups, COALESCE(SUM(d.n), 0) AS n_rows
FROM (
    SELECT COUNT(*) AS n
    FROM ${table}
    WHERE ${not_null}
    GROUP BY ${columns}
    HAVING COUNT(*) > 1
) d
