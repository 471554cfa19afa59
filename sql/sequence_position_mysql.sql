-- The AUTO_INCREMENT counter must be above the column's largest key. InnoDB never lets it drop
-- below (ALTER TABLE ... AUTO_INCREMENT = n is raised to max + 1), so in practice this catches
-- a column that lost AUTO_INCREMENT (counter NULL). MySQL 8 caches information_schema.TABLES
-- (information_schema_stats_expiry); MariaDB reads the live counter.
-- ${table_name}: the table name as a string literal; ${database}: DATABASE(), or the shadow's name
SELECT CASE WHEN k.max_key IS NOT NULL AND (s.next_value IS NULL OR s.next_value <= k.max_key)
            THEN 1 ELSE 0 END AS violations,
       s.next_value, k.max_key
FROM (SELECT MAX(${column}) AS max_key FROM ${table}) k
LEFT JOIN (
    SELECT AUTO_INCREMENT AS next_value
    FROM information_schema.TABLES
    WHERE TABLE_SCHEMA = ${database} AND TABLE_NAME = ${table_name}
) s ON 1 = 1
