-- A least-privilege PostgreSQL role for a dbsynth *source*: it can read, never write.
-- psql -v pw="'change-me'" -d yourdb -f postgres_readonly.sql
CREATE ROLE dbsynth_reader LOGIN PASSWORD :pw;
ALTER ROLE dbsynth_reader SET default_transaction_read_only = on;
GRANT CONNECT ON DATABASE current_database() TO dbsynth_reader;
GRANT USAGE ON SCHEMA public TO dbsynth_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO dbsynth_reader;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO dbsynth_reader;
