-- dbsynth 1.0 -> 1.1: introspect() joins plan, synthesize and verify (the command line's first step).
\echo Use "ALTER EXTENSION dbsynth UPDATE TO '1.1'" to load this file. \quit

CREATE FUNCTION dbsynth.introspect(options jsonb DEFAULT NULL) RETURNS jsonb
LANGUAGE sql VOLATILE AS $$
    SELECT dbsynth._result(dbsynth._call('introspect', jsonb_build_object('options', options), ARRAY['source']))
$$;
COMMENT ON FUNCTION dbsynth.introspect(jsonb) IS
    'tables, columns, keys, constraints and the FK graph of this database, as `dbsynth introspect --json`';
REVOKE ALL ON FUNCTION dbsynth.introspect(jsonb) FROM PUBLIC;
