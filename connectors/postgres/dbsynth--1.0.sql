-- dbsynth 1.0: plan, synthesize and verify a shadow database from SQL.
\echo Use "CREATE EXTENSION dbsynth" to load this file. \quit

-- Each function runs the dbsynth command line in a child process, through the launcher that
-- `dbsynth install-extension` wrote (module_pathname in dbsynth.control): the numerical work
-- (JAX, NumPy) stays out of the server's own processes, a crash there cannot take a backend down,
-- and the server's PL/Python need not be the same Python as dbsynth's. The child reads this
-- database as the calling role, in the caller's snapshot (pg_export_snapshot), and reports
-- progress as NOTICEs; a failure is an ERROR with the command line's one-line message and an
-- SQLSTATE per exit code.

-- The schema is the extension's own: DROP EXTENSION removes it with everything in it.
CREATE SCHEMA dbsynth;

CREATE FUNCTION dbsynth._call(command text, arguments jsonb, allowed text[]) RETURNS jsonb
LANGUAGE plpython3u VOLATILE AS $py$
import json, os, select, shutil, subprocess, tempfile
from urllib.parse import quote

PROGRAM = 'MODULE_PATHNAME'  # the launcher `dbsynth install-extension` wrote: dbsynth's command line
# The command line's exit codes (README) and the SQLSTATE each is raised with (by _result).
SQLSTATE = {2: "22023", 3: "08001", 4: "42501", 5: "55000", 6: "0A000", 7: "22003", 8: "58000",
            9: "55006", 70: "XX000"}

class Failed(Exception):
    def __init__(self, message, code):
        self.message, self.code = message, code

def command_line(work):
    args = json.loads(arguments)
    options = dict(args.get("options") or {})
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise Failed(f"unknown option(s) {', '.join(unknown)}; this function takes: {', '.join(allowed) or 'none'}", 2)
    # The source: this database, reached over the server's own socket as the calling role.
    source = options.pop("source", None)
    if source:
        if not str(source).startswith("postgresql"):
            raise Failed("options.source must be a postgresql:// URL of this database", 2)
    else:
        here = plpy.execute("SELECT current_user AS u, current_database() AS d, current_setting('port') AS p, "
                            "split_part(current_setting('unix_socket_directories'), ',', 1) AS s")[0]
        host = here["s"].strip() or "localhost"
        source = (f"postgresql+psycopg://{quote(here['u'], safe='')}@/{quote(here['d'], safe='')}"
                  f"?host={quote(host, safe='')}&port={here['p']}")
    cmd = [PROGRAM, command, str(source)]
    target = args.get("target")
    if target is not None:
        # A file target would be written by the server's operating-system user: the CLI writes those.
        if not str(target).startswith(("postgresql", "mysql", "mariadb")):
            raise Failed("the target must be a postgresql:// or mysql:// URL (a SQLite file is written by the "
                         "command line, not by the server)", 2)
        cmd.append(str(target))
    cmd.append("--json")
    for flag in ("epsilon", "delta"):
        if args.get(flag) is not None:
            cmd += [f"--{flag}", repr(float(args[flag]))]
    # The caller's snapshot, exported by the SQL wrapper: from here (a plpy.execute runs in a
    # subtransaction) PostgreSQL refuses to export one.
    snapshot = args.get("snapshot") if options.pop("snapshot", True) is not False else None
    for key, value in options.items():
        flag = "--" + key.replace("_", "-")
        if value is True:
            cmd.append(flag)
        elif value is not False and value is not None:
            for v in (value if isinstance(value, list) else [value]):
                cmd += [flag, str(v)]
    if args.get("spec") is not None:
        with open(os.path.join(work, "spec.json"), "w", encoding="utf-8") as f:
            json.dump(args["spec"], f)
        cmd += ["--spec", os.path.join(work, "spec.json")]
    if snapshot:  # the child reads what this transaction sees, whatever commits meanwhile
        cmd += ["--source-snapshot", str(snapshot)]
    return cmd

def run(cmd, work):
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": work, "LANG": "C.UTF-8",
           "PYTHONIOENCODING": "utf-8", "DBSYNTH_PROGRESS": "lines"}
    out_path = os.path.join(work, "out.json")
    message, tail, pending = None, [], b""
    with open(out_path, "wb") as out:
        try:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.PIPE, cwd=work,
                                    env=env)
        except OSError as exc:
            raise Failed(f"cannot start {PROGRAM} ({exc.strerror}): run `dbsynth install-extension` again", 70)
        try:
            while True:
                ready, _, _ = select.select([proc.stderr], [], [], 1.0)
                if not ready:
                    plpy.execute("SELECT 1")  # where a query cancel or a terminate reaches this backend
                    continue
                chunk = os.read(proc.stderr.fileno(), 65536)
                if not chunk:
                    break
                *lines, pending = (pending + chunk).split(b"\n")
                for raw in lines:
                    line = raw.decode("utf-8", "replace").rstrip()
                    if line.startswith("progress: "):
                        plpy.notice("dbsynth " + line[len("progress: "):])
                    elif line.startswith("warning: "):
                        plpy.warning("dbsynth: " + line[len("warning: "):])
                    elif line.startswith(("dbsynth: error: ", "dbsynth: internal error: ")):
                        message = line[len("dbsynth: "):].removeprefix("error: ")
                    elif line.strip():
                        tail = (tail + [line])[-3:]
            code = proc.wait()
        finally:
            if proc.poll() is None:  # cancelled: the run stops, its target stays as it was
                proc.terminate()
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
    with open(out_path, encoding="utf-8") as f:
        text = f.read()
    if code == 0 or (code == 1 and command == "verify" and text.strip()):
        return json.loads(text)  # verify's own verdict is in the JSON ("passed")
    if message is None:
        message = " / ".join(tail) or f"the command line exited with {code}"
        if "No module named" in message:
            message = f"{PROGRAM} cannot import dbsynth: run `dbsynth install-extension` from dbsynth's environment"
    raise Failed("dbsynth: " + message, code)

work = tempfile.mkdtemp(prefix="dbsynth-")
try:
    return json.dumps({"result": run(command_line(work), work)})
except Failed as failed:
    return json.dumps({"error": {"message": failed.message, "code": failed.code,
                                 "sqlstate": SQLSTATE.get(failed.code, "XX000")}})
finally:
    shutil.rmtree(work, ignore_errors=True)
$py$;

-- The reply of _call, or its error raised as a PostgreSQL error: the command line's one-line
-- message, the SQLSTATE of its exit code, the exit code in the HINT.
CREATE FUNCTION dbsynth._result(reply jsonb) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF reply ? 'error' THEN
        RAISE EXCEPTION USING MESSAGE = reply->'error'->>'message', ERRCODE = reply->'error'->>'sqlstate',
                              HINT = 'dbsynth exit code ' || (reply->'error'->>'code');
    END IF;
    RETURN reply->'result';
END
$$;

CREATE FUNCTION dbsynth.plan(spec jsonb DEFAULT NULL, options jsonb DEFAULT NULL) RETURNS jsonb
LANGUAGE sql VOLATILE AS $$
    SELECT dbsynth._result(dbsynth._call('plan', jsonb_build_object('spec', spec, 'options', options),
                             ARRAY['public', 'source']))
$$;
COMMENT ON FUNCTION dbsynth.plan(jsonb, jsonb) IS
    'the spec `dbsynth plan --json` writes for this database (or checks the one given), with units and budget split';

CREATE FUNCTION dbsynth.synthesize(target text, epsilon float8, delta float8 DEFAULT NULL,
                                       spec jsonb DEFAULT NULL, options jsonb DEFAULT NULL) RETURNS jsonb
LANGUAGE sql VOLATILE AS $$
    SELECT dbsynth._result(dbsynth._call('run', jsonb_build_object('target', target, 'epsilon', epsilon, 'delta', delta,
                                                       'spec', spec, 'options', options, 'snapshot', pg_export_snapshot()),
                             ARRAY['seed', 'replace', 'public', 'scale', 'method', 'link', 'llm_model', 'source',
                                   'snapshot']))
$$;
COMMENT ON FUNCTION dbsynth.synthesize(text, float8, float8, jsonb, jsonb) IS
    'learn this database under (epsilon, delta)-DP and write a shadow database into target, as `dbsynth run`';

CREATE FUNCTION dbsynth.verify(target text, options jsonb DEFAULT NULL) RETURNS jsonb
LANGUAGE sql VOLATILE AS $$
    SELECT dbsynth._result(dbsynth._call('verify', jsonb_build_object('target', target, 'options', options, 'snapshot', pg_export_snapshot()),
                             ARRAY['epsilon', 'fail_under', 'workload', 'seed', 'hard_only', 'tstr', 'source',
                                   'snapshot']))
$$;
COMMENT ON FUNCTION dbsynth.verify(text, jsonb) IS
    'check a shadow database against this one, as `dbsynth verify --json` (its "passed" is the verdict)';

-- The functions start processes as the server's operating-system user and connect where they are
-- told: no one may call them until a superuser grants it (README, "PostgreSQL extension").
REVOKE ALL ON FUNCTION dbsynth._call(text, jsonb, text[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION dbsynth._result(jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION dbsynth.plan(jsonb, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION dbsynth.synthesize(text, float8, float8, jsonb, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION dbsynth.verify(text, jsonb) FROM PUBLIC;
