"""Bind a transform's input names to the relations it may read, refusing every other relation.

A SQL transform names its inputs by the input ports' names (``FROM listening_events AS e``). Before it
runs, :func:`bind_relations` guards the tree like a consumer query (one read-only statement, no function
that reads files, settings or metadata) and replaces each input name with the subquery that reads it as
allowed: for an upstream port, the governed SELECT of the access layer (granted columns, masks, row
filter); for a declared source, a read of its files. Any other relation (a table, a file path, a schema
object, a table function outside the allowlist) is refused, so the finished tree reads nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlglot import exp

from meshplane.errors import QueryRejected
from meshplane.sql.guard import ALLOWED_TABLE_FUNCTIONS, function_names, guard_query

__all__ = ["bind_relations"]


def bind_relations(tree: exp.Expr, relations: Mapping[str, exp.Query]) -> exp.Expr:
    """Guard ``tree`` and replace each reference to a name in ``relations`` by (a copy of) its subquery.

    Rewrites ``tree`` in place and returns it; raises QueryRejected naming the first relation it refuses.
    """
    guard_query(tree)
    ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    inputs = {name.lower(): query for name, query in relations.items()}
    bound: list[tuple[exp.Table, exp.Query]] = []
    for node in list(tree.find_all(exp.Table)):
        if isinstance(node.this, exp.Func):
            if function_names(node.this) & ALLOWED_TABLE_FUNCTIONS:
                continue
            raise QueryRejected("a transform may read only its input ports; it calls a table function")
        if len(node.parts) != 1:
            raise QueryRejected(
                f"a transform may read only its input ports by name; {node.sql('duckdb')!r} is not one of: "
                + ", ".join(sorted(relations))
            )
        name = node.name.lower()
        if name in ctes:
            continue  # a CTE of the transform itself (it may shadow an input's name, as in SQL)
        query = inputs.get(name)
        if query is None:
            raise QueryRejected(
                f"a transform may read only its input ports; {node.name!r} is not one of: "
                + ", ".join(sorted(relations))
            )
        bound.append((node, query))
    for node, query in bound:
        alias = node.args.get("alias") or exp.TableAlias(this=exp.to_identifier(node.name, quoted=True))
        subquery = exp.Subquery(this=query.copy(), alias=alias.copy())
        for key in ("pivots", "sample"):
            if node.args.get(key):
                subquery.set(key, node.args[key])
        node.replace(subquery)
    return tree
