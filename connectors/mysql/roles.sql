-- Least-privilege MySQL/MariaDB accounts for dbsynth: one that can only read the source, one that
-- can only write the target (and the stage and trash databases a run makes beside it). Run as an
-- account with CREATE USER and GRANT OPTION, the names and passwords set first:
--
--   mysql -u root -e "SET @source_db = 'shop', @target_db = 'shop_shadow',
--                         @reader_password = 'change-me', @writer_password = 'change-me-too';
--                     SOURCE connectors/mysql/roles.sql"
--
-- then:  dbsynth run    mysql+pymysql://dbsynth_reader:...@host/shop mysql+pymysql://dbsynth_writer:...@host/shop_shadow -e 1
--        dbsynth verify mysql+pymysql://dbsynth_reader:...@host/shop mysql+pymysql://dbsynth_writer:...@host/shop_shadow
-- A database name goes into GRANT as a pattern: `_` and `%` are escaped to mean themselves.
SET @source_pattern = REPLACE(REPLACE(REPLACE(@source_db, '\\', '\\\\'), '_', '\\_'), '%', '\\%');
SET @target_pattern = REPLACE(REPLACE(REPLACE(@target_db, '\\', '\\\\'), '_', '\\_'), '%', '\\%');

-- The reader: SELECT (and SHOW VIEW) on the source database only. Tables it has no privilege on
-- are invisible to it, so grant the whole database: dbsynth stops (exit 4) when a visible table
-- references a hidden one. dbsynth's sessions are read only as well (SET SESSION TRANSACTION READ ONLY).
SET @sql = CONCAT('CREATE USER IF NOT EXISTS ''dbsynth_reader''@''%'' IDENTIFIED BY ', QUOTE(@reader_password));
PREPARE stmt FROM @sql; EXECUTE stmt; DEALLOCATE PREPARE stmt;
SET @sql = CONCAT('GRANT SELECT, SHOW VIEW ON `', REPLACE(@source_pattern, '`', '``'), '`.* TO ''dbsynth_reader''@''%''');
PREPARE stmt FROM @sql; EXECUTE stmt; DEALLOCATE PREPARE stmt;

-- The writer: the target database, created here, and the run's own stage and trash databases
-- (<target>__dbsynth_stage_<run>, <target>__dbsynth_trash_<run>), which it creates and drops.
SET @sql = CONCAT('CREATE DATABASE IF NOT EXISTS `', REPLACE(@target_db, '`', '``'), '`');
PREPARE stmt FROM @sql; EXECUTE stmt; DEALLOCATE PREPARE stmt;
SET @sql = CONCAT('CREATE USER IF NOT EXISTS ''dbsynth_writer''@''%'' IDENTIFIED BY ', QUOTE(@writer_password));
PREPARE stmt FROM @sql; EXECUTE stmt; DEALLOCATE PREPARE stmt;
SET @rights = 'SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, ALTER, INDEX, REFERENCES, CREATE VIEW, SHOW VIEW, TRIGGER';
SET @sql = CONCAT('GRANT ', @rights, ' ON `', REPLACE(@target_pattern, '`', '``'), '`.* TO ''dbsynth_writer''@''%''');
PREPARE stmt FROM @sql; EXECUTE stmt; DEALLOCATE PREPARE stmt;
SET @sql = CONCAT('GRANT ', @rights, ' ON `', REPLACE(@target_pattern, '`', '``'), '\\_\\_dbsynth\\_%`.* TO ''dbsynth_writer''@''%''');
PREPARE stmt FROM @sql; EXECUTE stmt; DEALLOCATE PREPARE stmt;
