-- The first start of the mariadb service: the writer may also make and drop the stage and trash
-- databases a run builds beside its target (shadow__dbsynth_stage_<run>, shadow__dbsynth_trash_<run>).
GRANT ALL PRIVILEGES ON `shadow\_\_dbsynth\_%`.* TO 'dbsynth'@'%';
