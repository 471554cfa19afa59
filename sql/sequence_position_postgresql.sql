-- The sequence behind an identity or serial column must hand out a value above the column's
-- largest key; otherwise the next INSERT that leaves the key to the database collides with a
-- synthetic row. No sequence at all (next_value NULL) on a non-empty table is a violation too.
-- ${sequence}: a regclass expression, pg_get_serial_sequence('<table>', '<column>') or '<seq>'
SELECT CASE WHEN k.max_key IS NOT NULL AND (s.next_value IS NULL OR s.next_value <= k.max_key)
            THEN 1 ELSE 0 END AS violations,
       s.next_value, k.max_key
FROM (SELECT MAX(${column}) AS max_key FROM ${table}) k
LEFT JOIN (
    -- last_value is NULL until the sequence is first used: then start_value comes next.
    SELECT COALESCE(seq.last_value + seq.increment_by, seq.start_value) AS next_value
    FROM pg_sequences seq
    WHERE (quote_ident(seq.schemaname) || '.' || quote_ident(seq.sequencename))::regclass = ${sequence}::regclass
) s ON 1 = 1
