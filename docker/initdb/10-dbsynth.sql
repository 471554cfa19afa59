-- The first start of the postgres service: the extension in the source database.
CREATE EXTENSION plpython3u;
CREATE EXTENSION dbsynth;
