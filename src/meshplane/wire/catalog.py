"""The system catalog a PostgreSQL client browses: domains as schemas, readable ports as tables.

Each catalog query runs on a fresh, locked-down DuckDB database of the query sandbox that holds one empty
table per port the user may read now (decided by the workspace like any query: masked and ungranted columns
appear as the user would see them), with the contracts' descriptions as table and column comments. DuckDB
answers ``pg_catalog`` and ``information_schema`` queries over those tables itself; the PostgreSQL
functions it lacks are defined as macros, and ``version()`` and friends return PostgreSQL's answers. The
database holds no rows and may read no file, so a catalog query cannot reach data.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from meshplane.engines.duckdb_sandbox import DuckDBSandbox, SandboxStream

if TYPE_CHECKING:
    from meshplane.workspace.access import PortSchema

__all__ = ["SERVER_VERSION", "CatalogQuery", "table_name"]

SERVER_VERSION = "16.0"
VERSION_TEXT = f"PostgreSQL {SERVER_VERSION} (meshplane governed query server)"

_MACROS = (
    "CREATE TABLE meshplane_pg_type (oid INTEGER, typname VARCHAR, typtype VARCHAR, typbasetype INTEGER,"
    " typarray INTEGER, typelem INTEGER, typrelid INTEGER, typreceive VARCHAR, typsend VARCHAR, typnamespace INTEGER,"
    " typlen SMALLINT, typtypmod INTEGER, typnotnull BOOLEAN, typcollation INTEGER, typcategory VARCHAR,"
    " typinput VARCHAR, typoutput VARCHAR, typdelim VARCHAR, typdefault VARCHAR)",
    "INSERT INTO meshplane_pg_type (oid, typname, typtype, typbasetype, typarray, typelem, typrelid, typreceive,"
    " typsend) VALUES {pg_types}",
    "UPDATE meshplane_pg_type SET typlen = -1, typtypmod = -1, typnotnull = false, typcollation = 0,"
    " typcategory = 'U', typinput = typname || 'in', typoutput = typname || 'out', typdelim = ','",
    "CREATE MACRO pg_get_userbyid(id) AS 'meshplane'",
    "CREATE MACRO pg_encoding_to_char(id) AS 'UTF8'",
    "CREATE MACRO pg_backend_pid() AS {pid}",
    "CREATE MACRO pg_is_in_recovery() AS false",
    "CREATE MACRO txid_current() AS 1",
    "CREATE MACRO pg_postmaster_start_time() AS TIMESTAMPTZ '2000-01-01 00:00:00+00'",
    "CREATE MACRO obj_description1(id) AS (SELECT description FROM pg_catalog.pg_description d WHERE d.objoid = id"
    " AND d.objsubid = 0 LIMIT 1)",
    "CREATE MACRO col_description1(id, n) AS (SELECT description FROM pg_catalog.pg_description d"
    " WHERE d.objoid = id AND d.objsubid = n LIMIT 1)",
    "CREATE MACRO pg_get_keywords() AS TABLE SELECT keyword_name AS word, 'U' AS catcode, keyword_category AS catdesc"
    " FROM duckdb_keywords()",
    "CREATE MACRO to_regtype(name) AS (SELECT oid FROM pg_catalog.pg_type WHERE typname = name LIMIT 1)",
    "CREATE MACRO to_regclass(name) AS (SELECT oid FROM pg_catalog.pg_class WHERE relname = name LIMIT 1)",
)
_QUALIFIED_MACRO = re.compile(
    r"\bpg_catalog\s*\.\s*(pg_get_userbyid|pg_encoding_to_char|pg_backend_pid|pg_is_in_recovery|txid_current|"
    r"pg_postmaster_start_time|pg_get_keywords|to_regclass|to_regtype)\b",
    re.IGNORECASE,
)


_ALIASES = {"current_version": "version", "currentversion": "version"}


def _pg_type_rows() -> str:
    """``pg_type`` rows for the types this server sends (with arrays), in PostgreSQL's own oids and names."""
    from meshplane.wire.values import _ARRAYS, _NAMES

    receive = {"bool": "boolrecv", "bytea": "bytearecv", "int8": "int8recv", "int2": "int2recv", "int4": "int4recv",
               "text": "textrecv", "json": "json_recv", "float4": "float4recv", "float8": "float8recv",
               "varchar": "varcharrecv", "date": "date_recv", "time": "time_recv", "timestamp": "timestamp_recv",
               "timestamptz": "timestamptz_recv", "interval": "interval_recv", "numeric": "numeric_recv",
               "uuid": "uuid_recv"}  # fmt: skip
    rows = []
    for oid, name in sorted(_NAMES.items()):
        recv = receive.get(name, name + "recv")
        rows.append(
            f"({oid}, '{name}', 'b', 0, {_ARRAYS.get(oid, 0)}, 0, 0, '{recv}', '{recv.replace('recv', 'send')}')"
        )
        if oid in _ARRAYS:
            rows.append(f"({_ARRAYS[oid]}, '_{name}', 'b', 0, 0, {oid}, 0, 'array_recv', 'array_send')")
    return ", ".join(rows)


def _named(node: exp.Expr, value: exp.Expr, name: str) -> exp.Expr:
    """``value`` in place of ``node``, keeping PostgreSQL's column name when it is a selected column."""
    if isinstance(node.parent, exp.Select) and node.arg_key == "expressions":
        return exp.alias_(value, name)
    return value


def table_name(address: str, single_port: bool) -> tuple[str, str]:
    """``(schema, table)`` a port is listed as: its domain, and its product (or ``product.port``)."""
    domain, product, port = address.split(".")
    return domain, product if single_port else f"{product}.{port}"


_PG_TYPES = _pg_type_rows()


class CatalogQuery:
    """Runs catalog queries for one user over the ports they may read."""

    def __init__(self, sandbox: DuckDBSandbox, *, user: str, database: str, pid: int,
                 settings: dict[str, str]) -> None:  # fmt: skip
        self.sandbox = sandbox
        self.user = user
        self.database = database
        self.pid = pid
        self.settings = settings

    def run(self, text: str, ports: Sequence[PortSchema]) -> SandboxStream:
        sql = self.translate(text)
        connection = self.sandbox.connect([])
        try:
            self._populate(connection, ports)
        except BaseException:
            connection.close()
            raise
        return self.sandbox.stream(connection, sql)

    def _populate(self, connection: Any, ports: Sequence[PortSchema]) -> None:
        per_product: dict[str, int] = {}
        for port in ports:
            product = port.address.rsplit(".", 1)[0]
            per_product[product] = per_product.get(product, 0) + 1
        statements = [m.format(pid=self.pid, pg_types=_PG_TYPES) for m in _MACROS]
        schemas = sorted({port.address.split(".")[0] for port in ports})
        statements += [f"CREATE SCHEMA {exp.to_identifier(s, quoted=True).sql('duckdb')}" for s in schemas]
        connection.execute("; ".join(statements))
        for port in ports:
            schema, table = table_name(port.address, per_product[port.address.rsplit(".", 1)[0]] == 1)
            target = exp.table_(exp.to_identifier(table, quoted=True), db=exp.to_identifier(schema, quoted=True))
            connection.from_arrow(port.schema.empty_table()).create(target.sql("duckdb"))
            comments = []
            if port.description:
                comments.append(exp.Comment(this=target, kind="TABLE", expression=exp.Literal.string(port.description)))
            for column, text in port.comments.items():
                if column in port.schema.names:
                    node = exp.column(exp.to_identifier(column, quoted=True), table=target.this, db=target.args["db"])
                    comments.append(exp.Comment(this=node, kind="COLUMN", expression=exp.Literal.string(text)))
            if comments:
                connection.execute("; ".join(c.sql("duckdb") for c in comments))

    def translate(self, text: str) -> str:
        """The DuckDB SQL of a PostgreSQL catalog query (PostgreSQL's answers for session functions)."""
        text = re.sub(r"OPERATOR\(pg_catalog\.([^)]+)\)", r"\1", text)
        text = re.sub(r"\s+COLLATE\s+(pg_catalog\.)?\"?(default|C)\"?", "", text, flags=re.IGNORECASE)
        text = _QUALIFIED_MACRO.sub(r"\1", text)
        text = re.sub(r"::\s*pg_catalog\.", "::", text)
        try:
            tree = sqlglot.parse_one(text, read="postgres")
        except SqlglotError:
            return text
        constants = {
            "version": VERSION_TEXT,
            "current_schema": "public",
            "current_database": self.database,
            "current_catalog": self.database,
            "current_user": self.user,
            "session_user": self.user,
            "current_role": self.user,
            "user": self.user,
        }

        def replace(node: exp.Expr) -> exp.Expr:
            if isinstance(node, exp.Table) and node.name.lower() == "pg_type" and node.db.lower() in ("", "pg_catalog"):
                # DuckDB's pg_type lacks text, json, arrays and typreceive (how drivers such as ADBC decode types)
                table = exp.to_table("meshplane_pg_type")
                table.set("alias", node.args.get("alias") or exp.TableAlias(this=exp.to_identifier("pg_type")))
                return table
            if (
                isinstance(node, exp.NEQ | exp.EQ)
                and isinstance(node.this, exp.Column)
                and node.this.name.lower() in ("typreceive", "typsend")
                and isinstance(node.expression, exp.Literal)
                and node.expression.this == "0"
            ):
                # regproc columns compare with 0 in PostgreSQL; here they hold the function's name
                return node.__class__(this=node.this, expression=exp.Literal.string(""))
            qualified = isinstance(node, exp.Dot) and node.this.name.lower() == "pg_catalog"
            if qualified and isinstance(node.expression, exp.Func):
                replaced = replace(node.expression)
                if isinstance(node.parent, exp.Select) and node.arg_key == "expressions" and replaced is not \
                        node.expression and not isinstance(replaced, exp.Alias):  # fmt: skip
                    return exp.alias_(replaced, node.expression.name.lower() or "?column?")
                return replaced
            if isinstance(node, exp.Func):
                name = (node.name if isinstance(node, exp.Anonymous) else node.sql_name()).lower()
                name = _ALIASES.get(name, name)
                if name in constants and not node.args.get("expressions"):
                    return _named(node, exp.Literal.string(constants[name]), name)
                if name == "current_setting":
                    key = node.args.get("expressions") or [node.this]
                    if key and isinstance(key[0], exp.Literal):
                        return exp.Literal.string(self.settings.get(str(key[0].this).lower(), ""))
                if name == "obj_description" and len(node.expressions) == 1:
                    return exp.Anonymous(this="obj_description1", expressions=node.expressions)
                if name == "col_description" and len(node.expressions) == 2:
                    return _named(node, exp.Anonymous(this="col_description1", expressions=node.expressions), name)
                if name in ("has_table_privilege", "has_schema_privilege", "has_database_privilege",
                            "pg_table_is_visible"):  # fmt: skip
                    return exp.true()
            if isinstance(node, exp.Column) and not node.table and node.name.lower() in ("current_user", "user") \
                    and not node.this.quoted:  # fmt: skip
                return exp.Literal.string(self.user)
            if isinstance(node, exp.Cast) and isinstance(node.to, exp.ObjectIdentifier):
                if node.to.name.upper() == "REGCLASS" and isinstance(node.this, exp.Literal) and node.this.is_string:
                    return exp.Anonymous(this="to_regclass", expressions=[node.this])
                inner: exp.Expr = node.this  # oids are plain integers here
                return inner
            return node

        try:
            return tree.transform(replace).sql("duckdb")
        except SqlglotError:
            return text
