-- A least-privilege MySQL/MariaDB account for a dbsynth *source*: SELECT only.
-- Replace yourdb and the password, then: mysql -u root < mysql_readonly.sql
CREATE USER IF NOT EXISTS 'dbsynth_reader'@'%' IDENTIFIED BY 'change-me';
GRANT SELECT, SHOW VIEW ON yourdb.* TO 'dbsynth_reader'@'%';
