"""Spark SQL as a source: a DB-API adapter over a `SparkSession`, the SQLAlchemy dialect that
compiles dbsynth's statements for it, and where a Spark source's schema (its keys) comes from.

Spark's catalog has no primary or foreign keys in most setups, so the schema is read from a DDL
(`schema.py`); the rows stay in Spark, which counts them (`dbsynth.dialects.spark`).
"""
