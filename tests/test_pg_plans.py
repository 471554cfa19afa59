"""PostgreSQL plans the bounded joins of the measure stage without nested loops.

The planner guesses that a fifth of a bounded child's rows pass its rank filter and then joins
it to its parent by a nested loop, every parent row against every kept child: 178 s for 159k
order lines, quadratic in the size. `PostgresDialect.prepare` turns nested loops off for dbsynth's
read-only transactions; this test EXPLAINs every statement over bounded rows that a real run
sends, in the same transaction, on a shop whose skewed degrees gave the nested loop before.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import event

import shop
from dbsynth.pipeline import RunOptions, run


def test_statements_over_bounded_rows_are_planned_without_nested_loops(new_pg_db):
    source, target = new_pg_db(), new_pg_db()
    shop.build(source, customers=3000)
    database = sa.engine.make_url(source).database
    plans: list[str] = []

    def explain(conn, cursor, statement, params, context, executemany):
        # Bounded rows are ranked under their owner (bounding.py): every such statement.
        if conn.engine.url.database == database and "dbsynth_rank" in statement:
            rows = cursor.connection.execute("EXPLAIN " + statement, params).fetchall()
            plans.append("\n".join(r[0] for r in rows))

    event.listen(sa.engine.Engine, "before_cursor_execute", explain)
    try:
        run(RunOptions(source, target, 4.0, 1e-9, seed=1))
    finally:
        event.remove(sa.engine.Engine, "before_cursor_execute", explain)
    assert len(plans) > 5, "the run sent too few statements over bounded rows"
    assert not [p for p in plans if "Nested Loop" in p], plans
