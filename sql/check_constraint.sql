-- Rows violating a CHECK constraint. A CHECK passes when its condition is TRUE or UNKNOWN,
-- so only rows where it is FALSE count: NOT (UNKNOWN) is UNKNOWN and filters the row out.
SELECT COUNT(*) AS n
FROM ${table}
WHERE NOT (${condition})
