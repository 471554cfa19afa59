-- Values of an enum column outside its labels (MySQL in non-strict mode stores '' instead,
-- SQLite stores anything). :labels is an expanding bind parameter, not spliced text.
SELECT COUNT(*) AS n
FROM ${table}
WHERE ${column} IS NOT NULL
  AND ${column} NOT IN :labels
