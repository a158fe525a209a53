"""The system catalog a PostgreSQL client browses: domains as schemas, readable ports as tables.

Catalog queries run on a locked-down DuckDB database of the query sandbox (one per session, made anew when
what the user may read changes; each query reads a cursor of its own) that holds
PostgreSQL's own catalog relations (``pg_class``, ``pg_attribute``, ``information_schema.columns``, ... with
all of PostgreSQL's columns, see :mod:`~meshplane.wire.pg_relations`) filled with the rows of the ports the
user may read now (:mod:`~meshplane.wire.pg_rows`: decided by the workspace like any query, so masked and
ungranted columns appear as the user would see them, with the contracts' descriptions as comments). The
query is rewritten as a tree: catalog relations become those tables, PostgreSQL's catalog functions
(``format_type``, ``pg_get_indexdef``, ``col_description``, regclass casts, ...) become macros over them.
The database holds no data and may read no file, so a catalog query cannot reach data.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from meshplane.engines.duckdb_sandbox import DuckDBSandbox, SandboxStream
from meshplane.wire.pg_relations import RELATIONS
from meshplane.wire.pg_rows import CatalogRows, catalog_rows, table_name

if TYPE_CHECKING:
    from meshplane.workspace.access import PortSchema

__all__ = ["SERVER_VERSION", "CatalogQuery", "UndefinedObject", "table_name"]

SERVER_VERSION = "16.0"
VERSION_TEXT = f"PostgreSQL {SERVER_VERSION} (meshplane governed query server)"
_SCHEMAS = {"pg_catalog": "mp_pg", "information_schema": "mp_is"}
_HELPERS = {
    "mp.regclass": "mp_name VARCHAR, mp_oid BIGINT, mp_display VARCHAR",
    "mp.types": "mp_oid BIGINT, mp_display VARCHAR, mp_name VARCHAR",
    "mp.definitions": "mp_oid BIGINT, mp_definition VARCHAR, mp_columns VARCHAR[]",
    "mp.descriptions": "mp_oid BIGINT, mp_sub INTEGER, mp_text VARCHAR",
}
"""Lookup tables of the macros; their column names are unlike any a client writes, as a macro's argument
(``oid``, ``attnum``) is substituted into its subquery and must not bind to the subquery's own columns."""

_MACROS = (
    "CREATE MACRO pg_get_userbyid(id) AS 'meshplane'",
    "CREATE MACRO pg_encoding_to_char(id) AS 'UTF8'",
    "CREATE MACRO pg_backend_pid() AS {pid}",
    "CREATE MACRO pg_is_in_recovery() AS false",
    "CREATE MACRO txid_current() AS 1",
    "CREATE MACRO pg_postmaster_start_time() AS TIMESTAMPTZ '2000-01-01 00:00:00+00'",
    "CREATE MACRO pg_my_temp_schema() AS 0",
    "CREATE MACRO pg_relation_is_publishable(id) AS false",
    "CREATE MACRO pg_is_other_temp_schema(id) AS false",
    "CREATE MACRO pg_relation_size(id) AS 0",
    "CREATE MACRO pg_total_relation_size(id) AS 0",
    "CREATE MACRO pg_table_size(id) AS 0",
    "CREATE MACRO pg_indexes_size(id) AS 0",
    "CREATE MACRO pg_size_pretty(n) AS CAST(n AS VARCHAR) || ' bytes'",
    "CREATE MACRO current_schemas(implicit) AS ['pg_catalog', 'public']",
    "CREATE MACRO quote_ident(name) AS CASE WHEN regexp_full_match(name, '[a-z_][a-z0-9_$]*') THEN name"
    " ELSE '\"' || replace(name, '\"', '\"\"') || '\"' END",
    "CREATE MACRO mp_obj_description(id) AS (SELECT mp_text FROM mp.descriptions WHERE mp_oid = id AND mp_sub = 0"
    " LIMIT 1)",
    "CREATE MACRO mp_col_description(id, n) AS (SELECT mp_text FROM mp.descriptions WHERE mp_oid = id AND mp_sub = n"
    " LIMIT 1)",
    "CREATE MACRO mp_format_type(id, modifier) AS CASE"
    " WHEN id = 1700 AND modifier > 4"
    " THEN 'numeric(' || ((modifier - 4) >> 16) || ',' || ((modifier - 4) & 65535) || ')'"
    " WHEN id = 1043 AND modifier > 4 THEN 'character varying(' || (modifier - 4) || ')'"
    " ELSE coalesce((SELECT mp_display FROM mp.types WHERE mp_oid = id), '???') END",
    "CREATE MACRO mp_regclass(text) AS (SELECT mp_oid FROM mp.regclass WHERE mp_name = text LIMIT 1)",
    "CREATE MACRO mp_regclass_name(id) AS coalesce((SELECT mp_display FROM mp.regclass WHERE mp_oid = id LIMIT 1),"
    " CAST(id AS VARCHAR))",
    "CREATE MACRO mp_regtype(text) AS (SELECT mp_oid FROM mp.types WHERE mp_name = text OR mp_display = text LIMIT 1)",
    "CREATE MACRO mp_definition(id) AS (SELECT mp_definition FROM mp.definitions WHERE mp_oid = id)",
    "CREATE MACRO mp_index_column(id, n) AS CASE WHEN n = 0 THEN mp_definition(id)"
    " ELSE (SELECT mp_columns[n] FROM mp.definitions WHERE mp_oid = id) END",
    "CREATE MACRO pg_get_keywords() AS TABLE SELECT keyword_name AS word, 'U' AS catcode, keyword_category AS catdesc"
    " FROM duckdb_keywords()",
    "CREATE MACRO array_upper(a, d) AS len(a)",
    # information_schema._pg_expandarray: the elements of an array with their positions, (x, n)
    "CREATE MACRO mp_expandarray(a) AS list_transform(range(1, len(a) + 1), mp_i -> {{'x': a[mp_i], 'n': mp_i}})",
    "CREATE MACRO array_lower(a, d) AS CASE WHEN len(a) > 0 THEN 1 END",
)
_ALIASES = {"current_version": "version", "currentversion": "version"}
_TRUE = {"has_table_privilege", "has_schema_privilege", "has_database_privilege", "has_column_privilege",
         "has_any_column_privilege", "has_function_privilege", "pg_table_is_visible", "pg_type_is_visible",
         "pg_function_is_visible", "pg_collation_is_visible"}  # fmt: skip
_NULL = {"pg_get_expr", "pg_get_viewdef", "pg_get_triggerdef", "pg_get_ruledef", "pg_get_partkeydef",
         "pg_get_statisticsobjdef_columns", "pg_get_function_arguments", "pg_get_function_result",
         "pg_get_function_identity_arguments", "pg_get_serial_sequence", "shobj_description",
         "pg_get_partition_constraintdef", "pg_get_functiondef"}  # fmt: skip
_ZERO_BASED = {"indkey", "indclass", "indoption", "indcollation", "proargtypes"}
"""int2vector and oidvector columns: PostgreSQL subscripts them from 0, DuckDB lists from 1."""
_QUALIFIED_CALL = re.compile(r"(?<![\w.])\"?pg_catalog\"?\s*\.\s*(\"?)(\w+)\1\s*\(", re.IGNORECASE)


class UndefinedObject(Exception):
    """A catalog relation this server does not have (SQLSTATE 42P01)."""


class CatalogQuery:
    """Runs catalog queries for one user over the ports they may read."""

    def __init__(self, sandbox: DuckDBSandbox, *, user: str, database: str, pid: int,
                 settings: Mapping[str, str]) -> None:  # fmt: skip
        self.sandbox = sandbox
        self.user = user
        self.database = database
        self.pid = pid
        self.settings = settings
        self._lock = threading.Lock()
        self._base: Any = None
        self._fingerprint: tuple[Any, ...] | None = None
        self._retired: list[Any] = []
        self._rows: CatalogRows | None = None
        self._created: set[str] = set()

    def run(self, text: str, ports: Sequence[PortSchema]) -> SandboxStream:
        """Start a catalog query; it reads its own cursor of the session's catalog database."""
        sql, relations = self.translate_with_relations(text)
        with self._lock:
            base = self._database(ports)
            for relation in sorted(relations - self._created):
                self._create(base, relation, RELATIONS[relation])
            cursor = base.cursor()
        return self.sandbox.stream(cursor, sql)

    def _database(self, ports: Sequence[PortSchema]) -> Any:
        """The catalog database of ``ports``: refilled only when what the user may read (or a setting) changed,
        with each relation created when a query first reads it."""
        fingerprint = _fingerprint(ports, self.settings)
        if self._base is not None and self._fingerprint == fingerprint:
            return self._base
        if self._base is not None:  # its cursors may still be read (an open portal): closed with the session
            self._retired.append(self._base)
            self._base = None
        connection = self.sandbox.connect([])
        try:
            self._rows = catalog_rows(ports, database=self.database, user=self.user, settings=self.settings)
            connection.execute("CREATE SCHEMA mp; CREATE SCHEMA mp_pg; CREATE SCHEMA mp_is")
            for relation, columns in _HELPERS.items():
                self._create(connection, relation, columns)
            connection.execute(";\n".join(m.format(pid=self.pid) for m in _MACROS))
        except BaseException:
            connection.close()
            raise
        self._base, self._fingerprint, self._created = connection, fingerprint, set()
        return connection

    def _create(self, connection: Any, relation: str, columns: str) -> None:
        import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

        target = _target(relation)
        definitions = [c.rsplit(" ", 1) for c in columns.split(", ")]
        columns_of = [exp.ColumnDef(this=exp.to_identifier(name, quoted=True),
                                    kind=exp.DataType.build(kind, dialect="duckdb"))
                      for name, kind in definitions]  # fmt: skip
        connection.execute(exp.Create(this=exp.Schema(this=target, expressions=columns_of), kind="TABLE").sql("duckdb"))
        values = self._rows.rows.get(relation, []) if self._rows is not None else []
        if values:
            names = [name for name, _ in definitions]
            # one Arrow table per relation (DuckDB casts each column to the table's type): a VALUES list of
            # hundreds of rows rendered as SQL would cost far more than the query
            table = pa.table({name: [row.get(name) for row in values] for name in names})
            insert = exp.insert(exp.select("*").from_("rows"), target,
                                columns=[exp.to_identifier(n, quoted=True) for n in names])  # fmt: skip
            connection.register("rows", table)
            try:
                connection.execute(insert.sql("duckdb"))
            finally:
                connection.unregister("rows")
        self._created.add(relation)

    def close(self) -> None:
        """Close the session's catalog databases (at the session's end)."""
        databases = [*self._retired, *([self._base] if self._base is not None else [])]
        self._base, self._fingerprint, self._rows, self._retired = None, None, None, []
        for database in databases:
            database.close()

    def translate(self, text: str) -> str:
        """The DuckDB SQL of a PostgreSQL catalog query (PostgreSQL's answers for session functions)."""
        return self.translate_with_relations(text)[0]

    def translate_with_relations(self, text: str) -> tuple[str, set[str]]:
        """The DuckDB SQL of a catalog query, and the catalog relations it reads."""
        text = re.sub(r"OPERATOR\(pg_catalog\.([^)]+)\)", r"\1", text)
        text = re.sub(r"\s+COLLATE\s+(pg_catalog\.)?\"?(default|C)\"?", "", text, flags=re.IGNORECASE)
        text = _QUALIFIED_CALL.sub(r"\2(", text)
        text = re.sub(r"(::|\bAS\s+)\s*\"?pg_catalog\"?\s*\.\s*", r"\1", text, flags=re.IGNORECASE)
        try:
            tree = sqlglot.parse_one(text, read="postgres")
        except SqlglotError:
            return text, set()
        relations: set[str] = set()
        try:
            # names first (relations and qualified columns), then the expressions that use them
            tree = tree.transform(lambda node: _names(node, relations))
            return tree.transform(self._replace).sql("duckdb"), relations
        except SqlglotError:
            return text, relations

    def _constants(self) -> dict[str, str]:
        return {
            "version": VERSION_TEXT,
            "current_schema": "public",
            "current_database": self.database,
            "current_catalog": self.database,
            "current_user": self.user,
            "session_user": self.user,
            "current_role": self.user,
            "user": self.user,
        }

    def _replace(self, node: exp.Expr) -> exp.Expr:
        new = self._rewrite(node)
        # transform() does not descend into a replacement: visit the original parts it carries
        return node if new is node else new.transform(self._replace)

    def _rewrite(self, node: exp.Expr) -> exp.Expr:
        if (
            isinstance(node, exp.NEQ | exp.EQ)
            and isinstance(node.this, exp.Column)
            and node.this.name.lower() in ("typreceive", "typsend")
            and isinstance(node.expression, exp.Literal)
            and node.expression.this == "0"
        ):
            # regproc columns compare with 0 in PostgreSQL; here they hold the function's name
            return node.__class__(this=node.this, expression=exp.Literal.string(""))
        if isinstance(node, exp.EQ) and isinstance(node.expression, exp.Any) \
                and not isinstance(node.expression.this, exp.Subquery | exp.Select):  # fmt: skip
            # x = ANY(array): DuckDB's ANY takes a subquery
            return exp.Anonymous(this="list_contains", expressions=[node.expression.this, node.this])
        if isinstance(node, exp.Bracket) and isinstance(node.this, exp.Column) \
                and node.this.name.lower() in _ZERO_BASED and len(node.expressions) == 1:  # fmt: skip
            index = exp.Add(this=exp.Paren(this=node.expressions[0]), expression=exp.Literal.number(1))
            return exp.Anonymous(this="list_extract", expressions=[node.this, index])
        if isinstance(node, exp.Cast) and isinstance(node.to, exp.ObjectIdentifier | exp.DataType):
            return _cast(node)
        if isinstance(node, exp.Func):
            return self._function(node)
        if isinstance(node, exp.Column) and not node.table and node.name.lower() in ("current_user", "user") \
                and not node.this.quoted:  # fmt: skip
            return exp.Literal.string(self.user)
        return node

    def _function(self, node: exp.Func) -> exp.Expr:
        name = (node.name if isinstance(node, exp.Anonymous) else node.sql_name()).lower()
        name = _ALIASES.get(name, name)
        if isinstance(node, exp.Anonymous):
            args = list(node.expressions)
        else:
            args = [a for a in (node.args.get("this"), *node.args.get("expressions", [])) if isinstance(a, exp.Expr)]
        constants = self._constants()
        if name in constants and not node.args.get("expressions"):
            return _named(node, exp.Literal.string(constants[name]), name)
        if name == "current_setting" and args:
            key = args[0].this if isinstance(args[0], exp.Cast) else args[0]
            if isinstance(key, exp.Literal):
                return exp.Literal.string(self.settings.get(str(key.this).lower(), ""))
        if name == "obj_description" and args:
            return _named(node, exp.Anonymous(this="mp_obj_description", expressions=args[:1]), name)
        if name == "col_description" and len(args) == 2:
            return _named(node, exp.Anonymous(this="mp_col_description", expressions=args), name)
        if name == "format_type" and len(args) == 2:
            return _named(node, exp.Anonymous(this="mp_format_type", expressions=args), name)
        if name == "pg_get_constraintdef" and args:
            return _named(node, exp.Anonymous(this="mp_definition", expressions=args[:1]), name)
        if name == "pg_get_indexdef" and args:
            column = args[1] if len(args) > 1 else exp.Literal.number(0)
            return _named(node, exp.Anonymous(this="mp_index_column", expressions=[args[0], column]), name)
        if name in ("to_regclass", "to_regtype"):
            return _named(node, exp.Anonymous(this=f"mp_{name[3:]}", expressions=args[:1]), name)
        if name == "_pg_expandarray" and len(args) == 1:
            return exp.Unnest(expressions=[exp.Anonymous(this="mp_expandarray", expressions=args)])
        if name == "json_build_object":
            return exp.Anonymous(this="json_object", expressions=args)
        if name in _TRUE:
            return _named(node, exp.true(), name)
        if name in _NULL:
            return _named(node, exp.cast(exp.null(), "VARCHAR"), name)
        return node


def _names(node: exp.Expr, relations: set[str]) -> exp.Expr:
    if isinstance(node, exp.Dot) and isinstance(node.expression, exp.Func) and node.this.name.lower() in _SCHEMAS:
        return node.expression.transform(lambda inner: _names(inner, relations))  # pg_catalog.f(...) is f(...)
    if isinstance(node, exp.Table):
        return _relation(node, relations)
    if isinstance(node, exp.Column) and node.db.lower() in _SCHEMAS:
        # pg_catalog.pg_namespace.nspname (SQLAlchemy's spelling): the relation is aliased by its name
        column = node.copy()
        column.set("db", None)
        return column
    return node


def _fingerprint(ports: Sequence[PortSchema], settings: Mapping[str, str]) -> tuple[Any, ...]:
    """What the catalog's rows are made of: the catalog database is refilled only when this changes."""
    described = tuple((p.address, p.description, str(p.schema), tuple(sorted(p.comments.items())), p.primary_key,
                       tuple(sorted(p.required))) for p in ports)  # fmt: skip
    return described, tuple(sorted(settings.items()))


def _target(relation: str) -> exp.Table:
    schema, _, name = relation.partition(".")
    return exp.table_(exp.to_identifier(name, quoted=True), db=exp.to_identifier(_SCHEMAS.get(schema, schema)))


def _relation(node: exp.Table, relations: set[str]) -> exp.Expr:
    """A catalog relation becomes its table here (``pg_class`` and ``pg_catalog.pg_class`` alike)."""
    if isinstance(node.this, exp.Func):
        alias = node.args.get("alias")
        if isinstance(alias, exp.TableAlias) and alias.this and not alias.columns:
            # a set-returning function's alias also names its column in PostgreSQL (generate_series(...) s)
            alias.set("columns", [alias.this.copy()])
        return node
    if node.catalog:
        return node
    schema, name = node.db.lower(), node.name.lower()
    if not schema and name.startswith("pg_"):
        schema = "pg_catalog"
    if schema not in _SCHEMAS:
        return node
    relation = f"{schema}.{name}"
    if relation not in RELATIONS:
        raise UndefinedObject(f'relation "{relation}" does not exist')
    relations.add(relation)
    table = _target(relation)
    table.set("alias", node.args.get("alias") or exp.TableAlias(this=exp.to_identifier(name)))
    return table


def _cast(node: exp.Cast) -> exp.Expr:
    """Casts to PostgreSQL's object identifier types: a name becomes an oid, an oid prints as its name."""
    to = node.to
    kind = (to.name if isinstance(to, exp.ObjectIdentifier) else to.sql("postgres")).lower().split(".")[-1].strip('"')
    if kind not in ("regclass", "regtype", "regproc", "regprocedure", "oid", "regnamespace", "regrole", "regoper"):
        return node
    value = node.this
    if isinstance(value, exp.Literal) and value.is_string:
        if kind == "regclass":
            return exp.Anonymous(this="mp_regclass", expressions=[value])
        if kind == "regtype":
            return exp.Anonymous(this="mp_regtype", expressions=[value])
        return value
    printed = isinstance(node.parent, exp.Cast) or (
        isinstance(node.parent, exp.Select) and node.arg_key == "expressions"
    )
    if kind == "regclass" and printed:  # shown, or cast on to text: the table's name
        return _named(node, exp.Anonymous(this="mp_regclass_name", expressions=[value]), "oid")
    if kind == "regtype" and printed:
        return _named(node, exp.Anonymous(this="mp_format_type", expressions=[value, exp.Literal.number(-1)]), "oid")
    return value if isinstance(value, exp.Expr) else node  # oids are plain integers here


def _named(node: exp.Expr, value: exp.Expr, name: str) -> exp.Expr:
    """``value`` in place of ``node``, keeping PostgreSQL's column name when it is a selected column."""
    if isinstance(node.parent, exp.Select) and node.arg_key == "expressions":
        return exp.alias_(value, name)
    return value
