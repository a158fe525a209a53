# ruff: noqa: E501  (a table of attack transforms: one line per case keeps it readable)
"""Transforms that try to escape a build's governance: each must be refused or stopped, and leak nothing.

``{secret}``, ``{warehouse}``, ``{raw_file}``, ``{catalog}``, ``{escape}``, ``{port}``, ``{mesh}`` and
``{access_secret}`` are replaced by the test (text replacement, not str.format): a file outside the
mesh holding a canary, the warehouse
folder, a raw Parquet file of the restricted upstream port, the catalog database, a folder outside staging,
a loopback TCP server answering a canary, the mesh root and its access secret. ``expect`` is ``refused``
(the build must fail) or ``governed`` (it may succeed, but only governed values may come out).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CASES", "BuildCase"]


@dataclass(frozen=True)
class BuildCase:
    id: str
    category: str
    language: str  # sql | py
    code: str
    expect: str = "refused"
    slow: bool = False
    writes: str | None = None
    """A path (template) the transform tries to create outside staging; it must not exist afterwards."""


def _sql(case_id: str, category: str, code: str, **options: object) -> BuildCase:
    return BuildCase(case_id, category, "sql", code, **options)  # type: ignore[arg-type]


def _py(case_id: str, category: str, body: str, **options: object) -> BuildCase:
    code = "import pyarrow as pa\n\n\ndef transform(customers):\n" + "".join(
        f"    {line}\n" for line in body.strip().splitlines()
    )
    return BuildCase(case_id, category, "py", code, **options)  # type: ignore[arg-type]


def _out(expr: str) -> str:
    return f"return pa.table({{'x': [str({expr})]}})"


FILES = "file, URL and warehouse reads"
SETTINGS = "extension and setting changes"
WRITES = "writes outside staging"
RESOURCES = "resource exhaustion"
ENVIRONMENT = "environment and credential reads"
PORTS = "reading ports not granted"
PROCESSES = "processes and signals"

CASES: tuple[BuildCase, ...] = (
    # --- SQL: files, URLs, the warehouse ---------------------------------------------------------------
    _sql("sql-read-csv-passwd", FILES, "SELECT column0 AS x FROM read_csv('/etc/passwd', header = false)"),
    _sql("sql-read-text-secret", FILES, "SELECT content AS x FROM read_text('{secret}')"),
    _sql("sql-read-blob-secret", FILES, "SELECT CAST(content AS VARCHAR) AS x FROM read_blob('{secret}')"),
    _sql("sql-string-table", FILES, "SELECT * AS x FROM '{secret}'"),
    _sql("sql-read-parquet-warehouse", FILES, "SELECT email AS x FROM read_parquet('{raw_file}')"),
    _sql("sql-parquet-scan-warehouse", FILES, "SELECT email AS x FROM parquet_scan('{raw_file}')"),
    _sql("sql-glob-warehouse", FILES, "SELECT file AS x FROM glob('{warehouse}/**')"),
    _sql("sql-read-csv-auto", FILES, "SELECT * AS x FROM read_csv_auto('{secret}')"),
    _sql("sql-read-json", FILES, "SELECT * AS x FROM read_json_auto('{secret}')"),
    _sql("sql-url-loopback", FILES, "SELECT * AS x FROM read_csv('http://127.0.0.1:{port}/x.csv')"),
    _sql("sql-url-https", FILES, "SELECT * AS x FROM read_parquet('https://example.com/x.parquet')"),
    _sql("sql-union-raw-file", FILES,
         "SELECT email AS x FROM customers UNION ALL SELECT email FROM read_parquet(['{raw_file}'])"),
    _sql("sql-sqlite-scan-catalog", FILES, "SELECT grantee AS x FROM sqlite_scan('{catalog}', 'mp_grants')"),
    _sql("sql-catalog-as-table", FILES, "SELECT * AS x FROM '{catalog}'"),
    _sql("sql-cte-file", FILES, "WITH t AS (SELECT content FROM read_text('{secret}')) SELECT content AS x FROM t"),
    _sql("sql-exists-file", FILES,
         "SELECT customer_id AS x FROM customers WHERE EXISTS (SELECT 1 FROM read_text('{secret}'))"),
    _sql("sql-scalar-subquery-file", FILES, "SELECT (SELECT content FROM read_text('{access_secret}')) AS x"),
    _sql("sql-lateral-file", FILES,
         "SELECT r.content AS x FROM customers, LATERAL (SELECT content FROM read_text('{secret}')) AS r"),
    _sql("sql-iceberg-scan", FILES, "SELECT * AS x FROM iceberg_scan('{warehouse}')"),
    _sql("sql-spark-dialect-path", FILES, "SELECT * AS x FROM parquet.`{raw_file}`"),
    # --- SQL: extensions and settings ---------------------------------------------------------------
    _sql("sql-install", SETTINGS, "INSTALL httpfs"),
    _sql("sql-load", SETTINGS, "LOAD httpfs"),
    _sql("sql-set-external-access", SETTINGS, "SET enable_external_access = true"),
    _sql("sql-reset-lock", SETTINGS, "RESET lock_configuration"),
    _sql("sql-current-setting", SETTINGS, "SELECT current_setting('allowed_paths') AS x"),
    _sql("sql-duckdb-settings", SETTINGS, "SELECT value AS x FROM duckdb_settings()"),
    _sql("sql-duckdb-extensions", SETTINGS, "SELECT extension_name AS x FROM duckdb_extensions()"),
    _sql("sql-pragma", SETTINGS, "PRAGMA enable_profiling"),
    _sql("sql-attach", SETTINGS, "ATTACH '{catalog}' AS c (TYPE sqlite)"),
    _sql("sql-two-statements", SETTINGS, "SELECT 1 AS x; SET threads = 64"),
    # --- SQL: writes outside staging --------------------------------------------------------------------
    _sql("sql-copy-to", WRITES, "COPY (SELECT * FROM customers) TO '{escape}/sql-copy.csv'",
         writes="{escape}/sql-copy.csv"),
    _sql("sql-select-then-copy", WRITES, "SELECT 1 AS x; COPY (SELECT 1) TO '{escape}/sql-then.csv'",
         writes="{escape}/sql-then.csv"),
    _sql("sql-create-table", WRITES, "CREATE TABLE leak AS SELECT * FROM customers"),
    _sql("sql-export-database", WRITES, "EXPORT DATABASE '{escape}/sql-export'", writes="{escape}/sql-export"),
    _sql("sql-insert", WRITES, "INSERT INTO customers VALUES ('x', 'y', 'z')"),
    _sql("sql-copy-in-cte", WRITES, "WITH c AS (COPY (SELECT 1) TO '{escape}/cte.csv') SELECT 1 AS x",
         writes="{escape}/cte.csv"),
    # --- SQL: environment and credentials ------------------------------------------------------------
    _sql("sql-getenv", ENVIRONMENT, "SELECT getenv('MESHPLANE_CANARY_ENV') AS x"),
    _sql("sql-home-directory", ENVIRONMENT, "SELECT current_setting('home_directory') AS x"),
    _sql("sql-secrets", ENVIRONMENT, "SELECT name AS x FROM duckdb_secrets()"),
    _sql("sql-which-secret", ENVIRONMENT, "SELECT * AS x FROM which_secret('s3://bucket/key', 's3')"),
    _sql("sql-create-secret", ENVIRONMENT, "CREATE SECRET s (TYPE s3, KEY_ID 'a', SECRET 'b')"),
    # --- SQL: ports not granted ---------------------------------------------------------------------
    _sql("sql-private-port-by-address", PORTS, "SELECT note AS x FROM crm.notes.notes"),
    _sql("sql-restricted-port-by-address", PORTS, "SELECT email AS x FROM crm.customers.customers"),
    _sql("sql-unknown-relation", PORTS, "SELECT note AS x FROM notes"),
    _sql("sql-information-schema", PORTS, "SELECT table_name AS x FROM information_schema.tables"),
    _sql("sql-ungranted-column", PORTS, "SELECT name AS x FROM customers"),
    _sql("sql-star-has-only-agreed", PORTS, "SELECT string_agg(to_json(c)::VARCHAR, ';') AS x FROM customers c",
         expect="governed"),
    _sql("sql-filtered-row", PORTS, "SELECT customer_id AS x FROM customers WHERE country = 'US'",
         expect="governed"),
    _sql("sql-masked-email", PORTS, "SELECT email AS x FROM customers", expect="governed"),
    _sql("sql-cast-error-probe", PORTS, "SELECT CAST(email AS INTEGER)::VARCHAR AS x FROM customers"),
    _sql("sql-error-probe-filtered-row", PORTS,
         "SELECT customer_id AS x FROM customers WHERE CAST(customer_id AS INTEGER) > 0"),
    # --- SQL: resources -------------------------------------------------------------------------------
    _sql("sql-endless-range", RESOURCES, "SELECT count(*)::VARCHAR AS x FROM range(100000000000000)", slow=True),
    _sql("sql-huge-list", RESOURCES, "SELECT len(range(2000000000))::VARCHAR AS x", slow=True),
    _sql("sql-huge-repeat", RESOURCES,
         "SELECT length(string_agg(repeat('x', 100000000), ''))::VARCHAR AS x FROM range(100)", slow=True),
    # --- Python: files, URLs, the warehouse ------------------------------------------------------------
    _py("py-open-passwd", FILES, _out("open('/etc/passwd').read()")),
    _py("py-open-secret", FILES, _out("open('{secret}').read()")),
    _py("py-open-raw-file", FILES, _out("open('{raw_file}', 'rb').read()")),
    _py("py-pyarrow-raw-file", FILES, "import pyarrow.parquet as pq\nreturn pq.read_table('{raw_file}').select(['email']).rename_columns(['x'])"),
    _py("py-list-warehouse", FILES, "import os\n" + _out("os.listdir('{warehouse}')")),
    _py("py-open-catalog", FILES, _out("open('{catalog}', 'rb').read()")),
    _py("py-sqlite-catalog", FILES, "import sqlite3\n" + _out("sqlite3.connect('{catalog}').execute('select * from mp_grants').fetchall()")),
    _py("py-duckdb-raw-file", FILES, "import duckdb\n" + _out("duckdb.sql(\"select email from read_parquet('{raw_file}')\").fetchall()")),
    _py("py-access-secret", FILES, _out("open('{access_secret}').read()")),
    _py("py-mesh-files", FILES, "import os\n" + _out("os.listdir('{mesh}')")),
    _py("py-proc-parent-environ", FILES, "import os\n" + _out("open(f'/proc/{os.getppid()}/environ', 'rb').read()")),
    _py("py-proc-1-environ", FILES, _out("open('/proc/1/environ', 'rb').read()")),
    _py("py-urllib-loopback", FILES, "import urllib.request\n" + _out("urllib.request.urlopen('http://127.0.0.1:{port}/').read()")),
    _py("py-socket-loopback", FILES, "import socket\ns = socket.create_connection(('127.0.0.1', {port}), timeout=5)\n" + _out("s.recv(100)")),
    _py("py-unix-socket-postgres", FILES, "import socket\ns = socket.socket(socket.AF_UNIX)\ns.connect('/var/run/postgresql/.s.PGSQL.5432')\n" + _out("'connected'")),
    _py("py-udp", FILES, "import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\ns.sendto(b'x', ('127.0.0.1', {port}))\n" + _out("'sent'")),
    # --- Python: extensions and settings -------------------------------------------------------------
    _py("py-duckdb-install", SETTINGS, "import duckdb\nduckdb.sql('INSTALL httpfs; LOAD httpfs')\n" + _out("'loaded'")),
    _py("py-raise-memory-limit", SETTINGS, "import resource\nresource.setrlimit(resource.RLIMIT_AS, (-1, -1))\n" + _out("'raised'")),
    _py("py-ctypes-seccomp-off", SETTINGS, "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\nassert libc.prctl(22, 0, 0, 0, 0) == 0\n" + _out("'off'")),
    _py("py-setuid", SETTINGS, "import os\nos.setuid(0)\nos.setgid(0)\n" + _out("open('{secret}').read()")),
    # --- Python: writes outside the scratch folder ------------------------------------------------------
    _py("py-write-escape", WRITES, "open('{escape}/py-write.txt', 'w').write('x')\n" + _out("'written'"),
        writes="{escape}/py-write.txt"),
    _py("py-makedirs-escape", WRITES, "import os\nos.makedirs('{escape}/py-dir')\n" + _out("'made'"),
        writes="{escape}/py-dir"),
    _py("py-append-warehouse", WRITES, "open('{raw_file}', 'ab').write(b'corrupt')\n" + _out("'appended'")),
    _py("py-overwrite-mesh", WRITES, "open('{mesh}/mesh.yaml', 'a').write('# owned')\n" + _out("'owned'")),
    _py("py-copy-raw-out", WRITES, "import shutil\nshutil.copy('{raw_file}', '{escape}/copied.parquet')\n" + _out("'copied'"),
        writes="{escape}/copied.parquet"),
    _py("py-symlink-escape", WRITES, "import os\nos.symlink('{raw_file}', 'link.parquet')\n" + _out("open('link.parquet', 'rb').read()")),
    # --- Python: processes and signals ----------------------------------------------------------------
    _py("py-subprocess", PROCESSES, "import subprocess\n" + _out("subprocess.run(['cat', '{secret}'], capture_output=True).stdout")),
    # os.system reports failure by its return code: the build may pass, but the command never ran
    _py("py-os-system", PROCESSES, "import os\n" + _out("os.system('touch {escape}/py-system')"),
        expect="governed", writes="{escape}/py-system"),
    _py("py-fork", PROCESSES, "import os\npid = os.fork()\n" + _out("pid")),
    _py("py-multiprocessing", PROCESSES, "import multiprocessing\np = multiprocessing.Process(target=print)\np.start()\n" + _out("'started'")),
    _py("py-kill-parent", PROCESSES, "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n" + _out("'killed'")),
    _py("py-kill-init-group", PROCESSES, "import os, signal\nos.kill(0, signal.SIGKILL)\n" + _out("'killed'")),
    _py("py-sys-exit", PROCESSES, "import sys\nsys.exit(0)"),
    _py("py-os-exit", PROCESSES, "import os\nos._exit(0)"),
    _py("py-raise-keyboard-interrupt", PROCESSES, "raise KeyboardInterrupt"),
    # --- Python: environment and credentials ------------------------------------------------------------
    _py("py-environ", ENVIRONMENT, "import os\n" + _out("dict(os.environ)"), expect="governed"),
    _py("py-aws-credentials", ENVIRONMENT, "import os\n" + _out("open(os.path.expanduser('~/.aws/credentials')).read()")),
    _py("py-root-home", ENVIRONMENT, "import os\n" + _out("os.listdir('/root')")),
    _py("py-import-meshplane", ENVIRONMENT, "from meshplane.workspace import Mesh\n" + _out("Mesh.open('{mesh}').read('crm.notes.notes')")),
    # --- Python: ports not granted ------------------------------------------------------------------------
    _py("py-ungranted-column", PORTS, _out("customers.column('name').to_pylist()")),
    _py("py-inputs-are-governed", PORTS, _out("customers.to_pylist()"), expect="governed"),
    _py("py-meshplane-query", PORTS, "import meshplane\n" + _out("meshplane.connect('{mesh}', as_user='carla').sql('SELECT * FROM crm.notes.notes')")),
    # --- Python: resources ----------------------------------------------------------------------------
    _py("py-busy-loop", RESOURCES, "while True:\n    pass", slow=True),
    _py("py-sleep", RESOURCES, "import time\ntime.sleep(10_000)", slow=True),
    _py("py-huge-allocation", RESOURCES, _out("len(bytearray(10**11))")),
    _py("py-growing-list", RESOURCES, "x = []\nwhile True:\n    x.append(bytearray(10**8))", slow=True),
    _py("py-huge-file", RESOURCES, "with open('big', 'wb') as f:\n    f.seek(8 * 2**30)\n    f.write(b'x')\n" + _out("'big'")),
    _py("py-thread-bomb", RESOURCES, "import threading, time\nfor _ in range(100_000):\n    threading.Thread(target=time.sleep, args=(60,), daemon=True).start()\n" + _out("'threads'"), slow=True),
)  # fmt: skip
