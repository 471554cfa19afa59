-- Exact row count of one table (fidelity compares source and target counts).
SELECT COUNT(*) AS n
FROM ${table}
