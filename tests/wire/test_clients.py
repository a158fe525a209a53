"""Other real clients over the wire protocol: the PostgreSQL JDBC driver (Java 17), SQLAlchemy with pandas,
and the ADBC PostgreSQL driver. Each browses, queries, binds parameters and sees what ``meshplane query`` sees.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from wire.conftest import CONSUMER, EVENTS, OUTSIDER, Wire

JDBC_JAR = Path("/usr/share/java/postgresql.jar")  # Debian's libpostgresql-jdbc-java
QUERY = f"SELECT event_id, country_code, listener_email, seconds_listened FROM {EVENTS} ORDER BY event_id LIMIT 20"

JAVA = """
import java.sql.*;
import java.util.Properties;

public class WireClient {
    public static void main(String[] args) throws Exception {
        Properties props = new Properties();
        props.setProperty("user", args[1]);
        props.setProperty("password", args[2]);
        props.setProperty("sslmode", "require");
        try (Connection conn = DriverManager.getConnection(args[0], props)) {
            DatabaseMetaData meta = conn.getMetaData();
            System.out.println("product " + meta.getDatabaseProductName() + " " + meta.getDatabaseProductVersion());
            try (ResultSet schemas = meta.getSchemas()) {
                while (schemas.next()) System.out.println("schema " + schemas.getString("TABLE_SCHEM"));
            }
            try (ResultSet tables = meta.getTables(null, "podcasts", "%", null)) {
                while (tables.next()) System.out.println("table " + tables.getString("TABLE_NAME"));
            }
            try (PreparedStatement st = conn.prepareStatement(args[3])) {
                st.setInt(1, 600);
                st.setString(2, "GB");
                try (ResultSet rs = st.executeQuery()) {
                    while (rs.next()) System.out.println("row " + rs.getString(1) + "|" + rs.getString(2) + "|"
                        + rs.getString(3) + "|" + rs.getInt(4));
                }
            }
        }
    }
}
"""


@pytest.mark.skipif(
    shutil.which("javac") is None or not JDBC_JAR.exists(), reason="needs Java 17 and libpostgresql-jdbc-java"
)
def test_jdbc_driver(wire: Wire, tmp_path: Path) -> None:
    (tmp_path / "WireClient.java").write_text(JAVA)
    subprocess.run(["javac", "-cp", str(JDBC_JAR), "WireClient.java"], cwd=tmp_path, check=True, timeout=120)
    sql = (f"SELECT event_id, country_code, listener_email, seconds_listened FROM {EVENTS}"
           " WHERE seconds_listened > ? AND country_code = ? ORDER BY event_id LIMIT 20")  # fmt: skip
    url = f"jdbc:postgresql://127.0.0.1:{wire.server.port}/media"
    run = subprocess.run(["java", "-cp", f"{JDBC_JAR}:{tmp_path}", "WireClient", url, CONSUMER, wire.tokens[CONSUMER],
                          sql], capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    lines = run.stdout.splitlines()
    assert any(line.startswith("product PostgreSQL 16") for line in lines)
    assert "schema podcasts" in lines and "table listening_events" in lines
    expected = wire.mesh.access.query(CONSUMER, sql.replace("?", "600", 1).replace("?", "'GB'")).table.to_pylist()
    rows = [line.removeprefix("row ") for line in lines if line.startswith("row ")]
    assert rows and rows == [f"{r['event_id']}|{r['country_code']}|{r['listener_email']}|{r['seconds_listened']}"
                             for r in expected]  # fmt: skip


def test_sqlalchemy_and_pandas(wire: Wire) -> None:
    import pandas as pd
    import sqlalchemy as sa

    url = sa.URL.create("postgresql+psycopg", username=CONSUMER, password=wire.tokens[CONSUMER], host="127.0.0.1",
                        port=wire.server.port, database="media", query={"sslmode": "require"})  # fmt: skip
    engine = sa.create_engine(url)
    try:
        inspector = sa.inspect(engine)
        assert "podcasts" in inspector.get_schema_names()
        assert "listening_events" in inspector.get_table_names(schema="podcasts")
        frame = pd.read_sql(sa.text(QUERY), engine)
        expected = wire.mesh.access.query(CONSUMER, QUERY).table.to_pandas()
        pd.testing.assert_frame_equal(frame, expected, check_dtype=False)
        params = pd.read_sql(sa.text(f"SELECT count(*) AS n FROM {EVENTS} WHERE country_code = :c"), engine,
                             params={"c": "GB"})  # fmt: skip
        assert int(params["n"][0]) == wire.mesh.access.query(CONSUMER, f"SELECT * FROM {EVENTS}").rows
    finally:
        engine.dispose()


def test_adbc_driver(wire: Wire) -> None:
    import adbc_driver_postgresql.dbapi as adbc

    uri = f"postgresql://{CONSUMER}:{wire.tokens[CONSUMER]}@127.0.0.1:{wire.server.port}/media?sslmode=require"
    with adbc.connect(uri) as conn, conn.cursor() as cursor:
        cursor.execute(QUERY)
        table = cursor.fetch_arrow_table()
        expected = wire.mesh.access.query(CONSUMER, QUERY).table
        assert table.to_pylist() == expected.to_pylist()
    outsider = uri.replace(CONSUMER, OUTSIDER, 1).replace(wire.tokens[CONSUMER], wire.tokens[OUTSIDER])
    with adbc.connect(outsider) as conn, conn.cursor() as cursor, pytest.raises(Exception, match="restricted"):
        cursor.execute(QUERY)
