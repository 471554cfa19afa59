# PostgreSQL 15 with the dbsynth extension installed (context: the repository root):
# CREATE EXTENSION plpython3u; CREATE EXTENSION dbsynth; then SELECT dbsynth.synthesize(...).
FROM postgres:15
RUN apt-get update \
    && apt-get install -y --no-install-recommends postgresql-plpython3-15 python3-venv \
    && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml README.md /opt/dbsynth/
COPY dbsynth /opt/dbsynth/dbsynth
COPY connectors /opt/dbsynth/connectors
# The image's python3 is the one PL/Python runs (Debian 12: 3.11); the extension starts dbsynth
# from this environment through the launcher that install-extension writes.
RUN python3 -m venv /opt/dbsynth/.venv \
    && /opt/dbsynth/.venv/bin/pip install --no-cache-dir -e '/opt/dbsynth[postgres,mysql]' \
    && /opt/dbsynth/.venv/bin/dbsynth install-extension --pg-config /usr/lib/postgresql/15/bin/pg_config
# Created in the database POSTGRES_DB names, on the first start only.
COPY docker/initdb/ /docker-entrypoint-initdb.d/
