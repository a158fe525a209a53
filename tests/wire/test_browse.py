"""Browsing through the system catalog with real clients: psql's describe commands, SQLAlchemy's inspector,
JDBC's DatabaseMetaData and the queries DBeaver sends. Each shows the ports the user may read, with the
columns, types, keys and contract comments the contract declares, and nothing of the ports they may not.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import psycopg
import pytest

from wire.conftest import CONSUMER, EVENTS, OUTSIDER, Wire

JDBC_JAR = Path("/usr/share/java/postgresql.jar")


def contract(wire: Wire) -> Any:
    record = wire.mesh.platform.catalog.reader.port(EVENTS)
    assert record is not None
    return record


def psql(wire: Wire, user: str, *commands: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PGPASSWORD": wire.tokens[user], "PGSSLMODE": "require"}
    args = ["psql", "-X", "-h", "127.0.0.1", "-p", str(wire.server.port), "-U", user, "-d", "media"]
    for command in commands:
        args += ["-c", command]
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=60, check=False)


def test_psql_describes_a_table_with_types_keys_and_comments(wire: Wire) -> None:
    out = psql(wire, CONSUMER, r"\d podcasts.listening_events", r"\d+ podcasts.listening_events")
    assert out.returncode == 0 and not out.stderr, out.stderr
    assert 'Table "podcasts.listening_events"' in out.stdout
    lines = {line.split("|")[0].strip(): [c.strip() for c in line.split("|")] for line in out.stdout.splitlines()
             if line.count("|") >= 4}  # fmt: skip
    assert lines["seconds_listened"][1] == "integer" and lines["seconds_listened"][3] == "not null"
    assert lines["started_at"][1] == "timestamp without time zone"
    assert lines["listener_email"][1] == "character varying"
    assert '"listening_events_pkey" PRIMARY KEY, btree (event_id)' in out.stdout
    for column in contract(wire).columns:  # \d+ shows every column's description from the contract
        if column.description:
            assert f"| {column.description}" in out.stdout, column.name


def listed(table: str, out: str) -> bool:
    return re.search(rf"^ podcasts +\| {re.escape(table)} +\| table ", out, re.MULTILINE) is not None


def test_psql_lists_schemas_and_tables_the_user_may_read(wire: Wire) -> None:
    consumer = psql(wire, CONSUMER, r"\dn", r"\dt", r"\dt+ podcasts.*")
    outsider = psql(wire, OUTSIDER, r"\dt", r"\d podcasts.listening_events")
    assert consumer.returncode == 0 and not consumer.stderr, consumer.stderr
    schemas = consumer.stdout.split("List of schemas")[1].split("rows)")[0]
    assert {"podcasts", "royalties", "films", "public"} <= {line.split("|")[0].strip() for line in schemas.splitlines()}
    assert "mp_" not in consumer.stdout and "information_schema" not in schemas  # only PostgreSQL's own names
    assert listed("listening_events", consumer.stdout)
    assert "One row per listening session." in consumer.stdout  # \dt+ shows the port's description
    assert not listed("listening_events", outsider.stdout)  # restricted, no grant: not listed
    assert listed("catalog.episodes", outsider.stdout)  # a public port is
    assert 'Did not find any relation named "podcasts.listening_events"' in outsider.stderr


def test_sqlalchemy_inspector(wire: Wire) -> None:
    import sqlalchemy as sa

    def engine(user: str) -> sa.Engine:
        url = sa.URL.create("postgresql+psycopg", username=user, password=wire.tokens[user], host="127.0.0.1",
                            port=wire.server.port, database="media", query={"sslmode": "require"})  # fmt: skip
        return sa.create_engine(url)

    consumer, outsider = engine(CONSUMER), engine(OUTSIDER)
    try:
        inspector = sa.inspect(consumer)
        assert {"podcasts", "royalties", "films"} <= set(inspector.get_schema_names())
        assert "listening_events" in inspector.get_table_names(schema="podcasts")
        columns = inspector.get_columns("listening_events", schema="podcasts")
        described = {c.name: c for c in contract(wire).columns}
        assert [c["name"] for c in columns] == list(described)
        for column in columns:
            assert column["comment"] == (described[column["name"]].description or None)
            assert column["nullable"] is not described[column["name"]].required
        types = {c["name"]: type(c["type"]) for c in columns}
        assert issubclass(types["seconds_listened"], sa.INTEGER) and issubclass(types["started_at"], sa.TIMESTAMP)
        assert inspector.get_pk_constraint("listening_events", schema="podcasts") == {
            "constrained_columns": [c.name for c in described.values() if c.primary_key],
            "name": "listening_events_pkey", "comment": None, "dialect_options": {"postgresql_include": []},
        }  # fmt: skip
        assert inspector.get_foreign_keys("listening_events", schema="podcasts") == []
        assert inspector.get_indexes("listening_events", schema="podcasts") == []  # the key's index is the key
        assert inspector.get_table_comment("listening_events", schema="podcasts") == {
            "text": contract(wire).description
        }
        table = sa.Table("listening_events", sa.MetaData(), schema="podcasts", autoload_with=consumer)
        assert [c.name for c in table.primary_key] == ["event_id"]
        denied = sa.inspect(outsider)
        assert "listening_events" not in denied.get_table_names(schema="podcasts")
        assert "catalog.episodes" in denied.get_table_names(schema="podcasts")
        with pytest.raises(sa.exc.NoSuchTableError):
            denied.get_columns("listening_events", schema="podcasts")
    finally:
        consumer.dispose()
        outsider.dispose()


# What DBeaver's PostgreSQL driver sends when it opens a connection and expands a table (abridged to the
# catalog constructs it uses: n.*, regclass literals, pg_get_expr with three arguments, pg_depend).
DBEAVER = [
    "SELECT n.oid, n.*, d.description FROM pg_catalog.pg_namespace n LEFT OUTER JOIN pg_catalog.pg_description d"
    " ON d.objoid = n.oid AND d.objsubid = 0 AND d.classoid = 'pg_namespace'::regclass ORDER BY nspname",
    "SELECT c.oid, c.*, t.relname AS tabrelname, rt.relnamespace AS refnamespace, d.description,"
    " CASE WHEN c.relpartbound IS NOT NULL THEN pg_get_expr(c.relpartbound, c.oid, true) END AS partition_expr"
    " FROM pg_catalog.pg_class c LEFT OUTER JOIN pg_catalog.pg_class t ON t.oid = c.reltoastrelid"
    " LEFT OUTER JOIN pg_catalog.pg_class rt ON rt.oid = c.reloftype"
    " LEFT OUTER JOIN pg_catalog.pg_description d ON d.objoid = c.oid AND d.objsubid = 0"
    " AND d.classoid = 'pg_class'::regclass WHERE c.relnamespace = %s AND c.relkind NOT IN ('i', 'I', 'c')",
    "SELECT c.oid, a.*, pg_catalog.pg_get_expr(ad.adbin, ad.adrelid, true) AS def_value, dsc.description, dep.objid"
    " FROM pg_catalog.pg_attribute a INNER JOIN pg_catalog.pg_class c ON (a.attrelid = c.oid)"
    " LEFT OUTER JOIN pg_catalog.pg_attrdef ad ON (a.attrelid = ad.adrelid AND a.attnum = ad.adnum)"
    " LEFT OUTER JOIN pg_catalog.pg_description dsc ON (c.oid = dsc.objoid AND a.attnum = dsc.objsubid)"
    " LEFT OUTER JOIN pg_depend dep ON dep.refobjid = a.attrelid AND dep.deptype = 'i'"
    " AND dep.refobjsubid = a.attnum AND dep.classid = dep.refclassid"
    " WHERE NOT a.attisdropped AND c.relkind NOT IN ('i', 'I', 'c') AND c.oid = %s ORDER BY a.attnum",
]


def test_dbeaver_style_queries(wire: Wire) -> None:
    with psycopg.connect(wire.dsn(CONSUMER)) as conn:
        namespaces = {r[2]: r[0] for r in conn.execute(DBEAVER[0])}  # oid, oid, nspname, ...
        tables = {r[2]: (r[0], r[-2]) for r in conn.execute(DBEAVER[1], (namespaces["podcasts"],))}
        oid, description = tables["listening_events"]
        assert description == contract(wire).description
        rows = conn.execute(DBEAVER[2], (oid,)).fetchall()
        names = [d.name for d in conn.execute(DBEAVER[2], (oid,)).description or []]
    attributes = [dict(zip(names, row, strict=True)) for row in rows]
    assert [a["attname"] for a in attributes] == [c.name for c in contract(wire).columns]
    assert {a["attname"]: a["description"] for a in attributes}["country_code"] == next(
        c.description for c in contract(wire).columns if c.name == "country_code"
    )


def test_unknown_catalog_relation_is_an_undefined_table(wire: Wire) -> None:
    with psycopg.connect(wire.dsn(CONSUMER)) as conn, pytest.raises(psycopg.errors.UndefinedTable, match="pg_nope"):
        conn.execute("SELECT * FROM pg_catalog.pg_nope")


JAVA = """
import java.sql.*;
import java.util.Properties;

public class Browse {
    public static void main(String[] args) throws Exception {
        Properties props = new Properties();
        props.setProperty("user", args[1]);
        props.setProperty("password", args[2]);
        props.setProperty("sslmode", "require");
        try (Connection conn = DriverManager.getConnection(args[0], props)) {
            DatabaseMetaData meta = conn.getMetaData();
            try (ResultSet rs = meta.getColumns(null, "podcasts", "listening_events", "%")) {
                while (rs.next()) System.out.println("column " + rs.getString("COLUMN_NAME") + "|"
                    + rs.getString("TYPE_NAME") + "|" + rs.getString("IS_NULLABLE") + "|" + rs.getString("REMARKS"));
            }
            try (ResultSet rs = meta.getPrimaryKeys(null, "podcasts", "listening_events")) {
                while (rs.next()) System.out.println("key " + rs.getString("COLUMN_NAME") + "|"
                    + rs.getString("PK_NAME"));
            }
            try (ResultSet rs = meta.getTables(null, "podcasts", "listening_events", new String[] {"TABLE"})) {
                while (rs.next()) System.out.println("table " + rs.getString("TABLE_NAME") + "|"
                    + rs.getString("REMARKS"));
            }
            try (ResultSet rs = meta.getImportedKeys(null, "podcasts", "listening_events")) {
                while (rs.next()) System.out.println("foreign " + rs.getString("FKCOLUMN_NAME"));
            }
        }
    }
}
"""


def test_jdbc_database_metadata(wire: Wire, tmp_path: Path) -> None:
    assert JDBC_JAR.exists(), "needs Debian's libpostgresql-jdbc-java (.ci/run installs it)"
    (tmp_path / "Browse.java").write_text(JAVA)
    subprocess.run(["javac", "-cp", str(JDBC_JAR), "Browse.java"], cwd=tmp_path, check=True, timeout=120)
    url = f"jdbc:postgresql://127.0.0.1:{wire.server.port}/media"
    run = subprocess.run(["java", "-cp", f"{JDBC_JAR}:{tmp_path}", "Browse", url, CONSUMER, wire.tokens[CONSUMER]],
                         capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    lines = run.stdout.splitlines()
    record = contract(wire)
    columns = [line.removeprefix("column ").split("|") for line in lines if line.startswith("column ")]
    assert [c[0] for c in columns] == [c.name for c in record.columns]
    assert {c[0]: c[3] for c in columns} == {c.name: c.description or "null" for c in record.columns}
    assert {c[0]: c[1] for c in columns}["seconds_listened"] == "int4"
    assert {c[0]: c[2] for c in columns}["event_id"] == "NO"
    assert "key event_id|listening_events_pkey" in lines
    assert f"table listening_events|{record.description}" in lines
    assert not [line for line in lines if line.startswith("foreign ")]


def test_catalog_follows_the_session_and_open_cursors_survive(wire: Wire) -> None:
    settings = "SELECT setting FROM pg_catalog.pg_settings WHERE name = 'application_name'"
    with psycopg.connect(wire.dsn(CONSUMER)) as conn:
        conn.execute("SET application_name = 'before'")
        assert conn.execute(settings).fetchone() == ("before",)
        with conn.transaction(), conn.cursor(name="columns") as cursor:
            cursor.itersize = 2
            cursor.execute("SELECT attname FROM pg_catalog.pg_attribute ORDER BY attrelid, attnum")
            first = cursor.fetchmany(2)
            conn.execute("SET application_name = 'after'")  # the session's catalog is made anew ...
            assert conn.execute(settings).fetchone() == ("after",)
            rest = cursor.fetchall()  # ... and the cursor opened before still reads the one it started on
        assert (
            len(first) == 2
            and len(first) + len(rest) == conn.execute("SELECT count(*) FROM pg_catalog.pg_attribute").fetchone()[0]
        )  # type: ignore[index]
