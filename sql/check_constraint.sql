-- Rows violating a CHECK constraint. A CHECK passes when its condition is TRUE or UNKNOWN,
-- so only rows where it is FALSE count: NOT (UNKNOWN) is UNKNOWN and filters the row out.
-- ${condition} is the CHECK as the target's dialect spells it.
SELECT COUNT(*) AS violations
FROM ${table}
WHERE NOT (${condition})
