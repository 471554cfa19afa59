"""`dbsynth install-extension`: the PostgreSQL extension's files into a server on this machine.

The extension (connectors/postgres) is a control file and versioned SQL scripts; its functions
start `python -m dbsynth.cli` as a child process of the server. Installing writes the scripts into
the server's extension directory (`pg_config --sharedir`/extension) and the control file with
`module_pathname` set to the Python that runs dbsynth here, which PostgreSQL substitutes for
MODULE_PATHNAME in the scripts. Nothing is done inside a database: `CREATE EXTENSION dbsynth`
is the DBA's.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import stat
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from dbsynth.errors import PermissionDenied, UsageError

CONTROL_TEMPLATE = "dbsynth.control.in"


@dataclass
class Installed:
    extension_dir: str
    python: str
    files: list[str]
    default_version: str
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def extension_sources() -> Path:
    """connectors/postgres of the source tree dbsynth is installed from (`pip install -e`)."""
    here = Path(__file__).resolve().parent.parent / "connectors" / "postgres"
    if not (here / CONTROL_TEMPLATE).exists():
        raise UsageError(f"the extension's files are not at {here}: install dbsynth from its source tree "
                         "(pip install -e .) to install the extension")
    return here


def find_pg_config(given: str | None) -> str:
    """`given`, else pg_config on PATH, else the newest Debian/Ubuntu one."""
    if given:
        if not (shutil.which(given) or os.access(given, os.X_OK)):
            raise UsageError(f"--pg-config {given}: not an executable")
        return shutil.which(given) or given
    found = shutil.which("pg_config") or next(iter(sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_config"),
                                                          key=_major, reverse=True)), None)
    if not found:
        raise UsageError("pg_config not found: pass --pg-config /usr/lib/postgresql/15/bin/pg_config "
                         "(Debian: apt-get install postgresql)")
    return found


def _major(path: str) -> int:
    part = Path(path).parent.parent.name
    return int(part) if part.isdigit() else 0


def _put(path: Path, text: str, mode: int = 0o644) -> None:
    """Write `path` whole or not at all (a temporary file beside it, then a rename): a server
    running CREATE EXTENSION while another install rewrites the files never reads half of one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.chmod(mode)
    os.replace(tmp, path)


def install(pg_config: str | None = None, python: str | None = None) -> Installed:
    sources = extension_sources()
    python = python or sys.executable
    env = _environment(python)
    config = find_pg_config(pg_config)
    share = subprocess.run([config, "--sharedir"], capture_output=True, text=True)
    if share.returncode != 0 or not share.stdout.strip():
        raise UsageError(f"{config} --sharedir failed: {share.stderr.strip()}")
    target = Path(share.stdout.strip()) / "extension"
    if not os.access(target, os.W_OK):
        raise PermissionDenied(f"cannot write the extension into {target}: run install-extension as root "
                               "or as the owner of that directory")
    interpreter, warnings = _interpreter_for_the_server(python, env["version"])
    closed = [p for p in env["site"] + [env["package"]] if not _open_to_all(Path(p))]
    if closed:
        raise PermissionDenied(f"the server's user cannot read {closed[0]}: install dbsynth where other users "
                               "can read it (or chmod o+rx the folders on its way)")
    launcher = target / LAUNCHER
    if "'" in str(launcher):
        raise UsageError(f"{launcher} holds a quote, which a control file cannot")
    _put(launcher, _launcher_text(interpreter, env["site"]), mode=0o755)
    control = (sources / CONTROL_TEMPLATE).read_text(encoding="utf-8").replace("@PYTHON@", str(launcher))
    _put(target / "dbsynth.control", control)
    written = [str(launcher), str(target / "dbsynth.control")]
    for script in sorted(sources.glob("dbsynth--*.sql")):
        _put(target / script.name, script.read_text(encoding="utf-8"))
        written.append(str(target / script.name))
    version = next(line.split("=", 1)[1].strip().strip("'") for line in control.splitlines()
                   if line.startswith("default_version"))
    return Installed(str(target), interpreter, written, version, warnings)


# The program the extension's functions start (module_pathname): dbsynth's command line.
LAUNCHER = "dbsynth-cli"


def _environment(python: str) -> dict:
    """Where `python` finds dbsynth: its version, its site folders and dbsynth's package folder."""
    probe = ("import json, os, site, sys, sysconfig, dbsynth.cli; "
             "print(json.dumps({'version': '%d.%d' % sys.version_info[:2], "
             "'site': sorted({sysconfig.get_paths()['purelib'], sysconfig.get_paths()['platlib']}), "
             "'package': os.path.dirname(os.path.dirname(os.path.realpath(dbsynth.__file__)))}))")
    refused = UsageError(f"{python} cannot import dbsynth: pass --python with the interpreter of dbsynth's environment")
    try:
        res = subprocess.run([python, "-c", probe], capture_output=True, text=True)
        found = json.loads(res.stdout) if res.returncode == 0 else None
    except (OSError, ValueError):
        raise refused from None
    if not isinstance(found, dict) or not {"version", "site", "package"} <= set(found):
        raise refused
    return found


def _interpreter_for_the_server(python: str, version: str) -> tuple[str, list[str]]:
    """An interpreter of `python`'s version that the server's user may run: `python` itself, or
    where that one lies in a folder closed to other users (pyenv under /root), the system's own
    /usr/bin/pythonX.Y, which reads the same site folders (same version: the same binary modules)."""
    real = Path(os.path.realpath(python))
    if _open_to_all(real):
        return python, []
    system = Path(f"/usr/bin/python{version}")
    if system.exists() and _open_to_all(Path(os.path.realpath(system))):
        return str(system), [f"{real} is closed to other users: the extension runs {system} with dbsynth's "
                             "site folders instead"]
    raise PermissionDenied(f"the server's user cannot run {real} and there is no /usr/bin/python{version}: "
                           "install dbsynth with a Python that other users can run")


def _open_to_all(path: Path) -> bool:
    """Whether other users (the server's) can reach `path`, every folder on its way o+x, and run
    it (a program) or list and enter it (a folder)."""
    try:
        reach = all(folder.stat().st_mode & stat.S_IXOTH for folder in path.parents)
        mode = path.stat().st_mode
    except OSError:
        return False
    need = stat.S_IROTH | stat.S_IXOTH if path.is_dir() else stat.S_IXOTH
    return reach and mode & need == need


def _launcher_text(interpreter: str, site_dirs: list[str]) -> str:
    # -S: not the system's site-packages (a Debian python3-yaml must not shadow dbsynth's own);
    # then dbsynth's site folders, with their .pth files (an editable install is one).
    return (f"#!{interpreter} -S\n"
            "# Written by `dbsynth install-extension`: the command line that the extension's functions run.\n"
            "import runpy\nimport site\n\n"
            + "".join(f"site.addsitedir({d!r})\n" for d in site_dirs)
            + "runpy.run_module('dbsynth.cli', run_name='__main__', alter_sys=True)\n")
