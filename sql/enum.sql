-- Values of an enum column outside its labels (MySQL in non-strict mode stores '' instead,
-- SQLite stores anything). The column is compared as text, so that a native PostgreSQL enum
-- whose labels were changed reports the rows instead of failing on an unknown label.
-- ${column_text}: the column cast to text; ${labels}: the labels as quoted string literals
SELECT COUNT(*) AS violations
FROM ${table}
WHERE ${column} IS NOT NULL
  AND ${column_text} NOT IN (${labels})
