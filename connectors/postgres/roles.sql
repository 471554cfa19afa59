-- Least-privilege PostgreSQL roles for dbsynth: one that can only read the source, one that can
-- only write the target. Run as a superuser (or a role with CREATEROLE and CREATEDB):
--
--   psql -d postgres -v source_db=shop -v target_db=shop_shadow \
--        -v reader_password="'change-me'" -v writer_password="'change-me-too'" -f roles.sql
--
-- then:  dbsynth run    postgresql://dbsynth_reader:...@host/shop postgresql://dbsynth_writer:...@host/shop_shadow -e 1
--        dbsynth verify postgresql://dbsynth_reader:...@host/shop postgresql://dbsynth_writer:...@host/shop_shadow
\set ON_ERROR_STOP on

-- The reader: SELECT on the source's tables and nothing else; every transaction read only, so
-- even a table granted to it by mistake later cannot be written through it.
CREATE ROLE dbsynth_reader LOGIN PASSWORD :reader_password;
ALTER ROLE dbsynth_reader SET default_transaction_read_only = on;
GRANT CONNECT ON DATABASE :"source_db" TO dbsynth_reader;

-- The writer: owns the target database, where it creates, replaces and fills tables, types and
-- sequences (and its stage schema while a run writes); it has no rights on the source's tables.
CREATE ROLE dbsynth_writer LOGIN PASSWORD :writer_password;
CREATE DATABASE :"target_db" OWNER dbsynth_writer;
REVOKE CONNECT, TEMPORARY ON DATABASE :"target_db" FROM PUBLIC;

\connect :"source_db"
-- Every schema of the source that holds tables (dbsynth reads the catalogs, which every role may).
SELECT format('GRANT USAGE ON SCHEMA %1$I TO dbsynth_reader; '
              'GRANT SELECT ON ALL TABLES IN SCHEMA %1$I TO dbsynth_reader', nspname)
FROM pg_namespace
WHERE nspname NOT LIKE 'pg\_%' AND nspname <> 'information_schema'
\gexec
-- Tables created later by the role running this script are readable too.
ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO dbsynth_reader;
