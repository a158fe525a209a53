"""The rows of the system catalog a PostgreSQL client browses: domains as schemas, readable ports as tables.

Everything here is built from the ports one user may read now (their names, result columns as that user
sees them, contract descriptions and primary keys): no data, no other user's ports. Object identifiers are
stable hashes of the names, so an oid a client read in one query still names the same table in the next.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from meshplane.wire.values import _ARRAYS, _NAMES, pg_type

if TYPE_CHECKING:
    from meshplane.workspace.access import PortSchema

__all__ = ["CatalogRows", "catalog_rows", "table_name"]

OWNER_OID, PG_CATALOG_OID, PUBLIC_OID, INFORMATION_SCHEMA_OID = 10, 11, 2200, 13_000
HEAP_AM, BTREE_AM = 2, 403
PG_CLASS_OID = 1259
OWNER = "meshplane"

# PostgreSQL's own names of the types this server sends (format_type) and how information_schema names them
_DISPLAY = {"bool": "boolean", "int8": "bigint", "int2": "smallint", "int4": "integer", "float4": "real",
            "float8": "double precision", "varchar": "character varying", "time": "time without time zone",
            "timestamp": "timestamp without time zone", "timestamptz": "timestamp with time zone",
            "bpchar": "character", "char": '"char"'}  # fmt: skip
_CATEGORY = {"bool": "B", "int8": "N", "int2": "N", "int4": "N", "float4": "N", "float8": "N", "numeric": "N",
             "oid": "N", "regclass": "N", "regtype": "N", "regproc": "N", "text": "S", "varchar": "S", "name": "S",
             "bpchar": "S", "char": "Z", "date": "D", "time": "D", "timestamp": "D", "timestamptz": "D",
             "interval": "T", "unknown": "X"}  # fmt: skip
_RECEIVE = {"bool": "boolrecv", "bytea": "bytearecv", "int8": "int8recv", "int2": "int2recv", "int4": "int4recv",
            "text": "textrecv", "json": "json_recv", "float4": "float4recv", "float8": "float8recv",
            "varchar": "varcharrecv", "date": "date_recv", "time": "time_recv", "timestamp": "timestamp_recv",
            "timestamptz": "timestamptz_recv", "interval": "interval_recv", "numeric": "numeric_recv",
            "uuid": "uuid_recv", "oid": "oidrecv", "name": "namerecv", "char": "charrecv"}  # fmt: skip
_SIZES = {16: 1, 18: 1, 19: 64, 20: 8, 21: 2, 23: 4, 26: 4, 24: 4, 700: 4, 701: 8, 1082: 4, 1083: 8, 1114: 8,
          1184: 8, 1186: 16, 2950: 16, 2205: 4, 2206: 4}  # fmt: skip
# types a catalog query may name besides those data is sent as (oid, name, category)
_CATALOG_TYPES = {18: "char", 19: "name", 22: "int2vector", 24: "regproc", 26: "oid", 30: "oidvector",
                  194: "pg_node_tree", 705: "unknown", 1042: "bpchar", 2205: "regclass", 2206: "regtype"}  # fmt: skip
_PRECISION = {"int2": 16, "int4": 32, "int8": 64, "float4": 24, "float8": 53}


def table_name(address: str, single_port: bool) -> tuple[str, str]:
    """``(schema, table)`` a port is listed as: its domain, and its product (or ``product.port``)."""
    domain, product, port = address.split(".")
    return domain, product if single_port else f"{product}.{port}"


def oid_of(kind: str, name: str) -> int:
    """A stable object identifier above PostgreSQL's reserved range (16384)."""
    return 16_384 + zlib.crc32(f"{kind}:{name}".encode()) % 1_000_000_000


def quote_ident(name: str) -> str:
    """PostgreSQL's ``quote_ident``: quoted unless a plain lower-case identifier."""
    plain = name and (name[0].isalpha() or name[0] == "_") and name.isascii()
    if plain and all(c.islower() or c.isdigit() or c == "_" for c in name):
        return name
    return '"' + name.replace('"', '""') + '"'


def display_name(oid: int, modifier: int = -1) -> str:
    """``format_type(oid, typmod)`` as PostgreSQL prints it."""
    element = next((e for e, a in _ARRAYS.items() if a == oid), None)
    if element is not None:
        return display_name(element) + "[]"
    name = _NAMES.get(oid) or _CATALOG_TYPES.get(oid, "???")
    if name == "numeric" and modifier > 4:
        return f"numeric({(modifier - 4) >> 16},{(modifier - 4) & 0xFFFF})"
    if name == "varchar" and modifier > 4:
        return f"character varying({modifier - 4})"
    return _DISPLAY.get(name, name)


@dataclass
class CatalogRows:
    """Rows per relation (``pg_catalog.pg_class``, ``information_schema.columns``, ...) and helper tables."""

    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def add(self, relation: str, **values: Any) -> None:
        self.rows.setdefault(relation, []).append(values)
        if relation == "pg_catalog.pg_description":  # what obj_description and col_description look up
            self.rows.setdefault("mp.descriptions", []).append(
                {"mp_oid": values["objoid"], "mp_sub": values["objsubid"], "mp_text": values["description"]}
            )


def _types(out: CatalogRows) -> None:
    for oid, name in sorted({**_NAMES, **_CATALOG_TYPES}.items()):
        size = _SIZES.get(oid, -1)
        recv = _RECEIVE.get(name, name + "recv")
        out.add("pg_catalog.pg_type", oid=oid, typname=name, typnamespace=PG_CATALOG_OID, typowner=OWNER_OID,
                typlen=size, typbyval=size in (1, 2, 4, 8), typtype="b", typcategory=_CATEGORY.get(name, "U"),
                typispreferred=name in ("text", "float8", "bool", "timestamptz"), typisdefined=True, typdelim=",",
                typrelid=0, typsubscript="-", typelem=0, typarray=_ARRAYS.get(oid, 0), typinput=name + "in",
                typoutput=name + "out", typreceive=recv, typsend=recv.replace("recv", "send"), typmodin="-",
                typmodout="-", typanalyze="-", typalign="i", typstorage="p" if size > 0 else "x", typnotnull=False,
                typbasetype=0, typtypmod=-1, typndims=0,
                typcollation=100 if _CATEGORY.get(name) == "S" else 0)  # fmt: skip
        out.add("mp.types", mp_oid=oid, mp_display=display_name(oid), mp_name=name)
        if oid in _ARRAYS:
            out.add("pg_catalog.pg_type", oid=_ARRAYS[oid], typname="_" + name, typnamespace=PG_CATALOG_OID,
                    typowner=OWNER_OID, typlen=-1, typbyval=False, typtype="b", typcategory="A",
                    typispreferred=False, typisdefined=True, typdelim=",", typrelid=0,
                    typsubscript="array_subscript_handler",
                    typelem=oid, typarray=0, typinput="array_in", typoutput="array_out", typreceive="array_recv",
                    typsend="array_send", typmodin="-", typmodout="-", typanalyze="array_typanalyze", typalign="i",
                    typstorage="x", typnotnull=False, typbasetype=0, typtypmod=-1, typndims=0,
                    typcollation=0)  # fmt: skip
            out.add("mp.types", mp_oid=_ARRAYS[oid], mp_display=display_name(_ARRAYS[oid]), mp_name="_" + name)


def _schemas(out: CatalogRows, schemas: Sequence[str], database: str, user: str) -> None:
    fixed = ((PG_CATALOG_OID, "pg_catalog"), (PUBLIC_OID, "public"), (INFORMATION_SCHEMA_OID, "information_schema"))
    for oid, name in (*fixed, *((oid_of("schema", s), s) for s in schemas)):
        out.add("pg_catalog.pg_namespace", oid=oid, nspname=name, nspowner=OWNER_OID)
        out.add("information_schema.schemata", catalog_name=database, schema_name=name, schema_owner=OWNER)
    out.add("pg_catalog.pg_am", oid=HEAP_AM, amname="heap", amhandler="heap_tableam_handler", amtype="t")
    out.add("pg_catalog.pg_am", oid=BTREE_AM, amname="btree", amhandler="bthandler", amtype="i")
    out.add("pg_catalog.pg_database", oid=oid_of("database", database), datname=database, datdba=OWNER_OID,
            encoding=6, datlocprovider="c", datistemplate=False, datallowconn=True, datconnlimit=-1,
            dattablespace=1663, datcollate="C", datctype="C")  # fmt: skip
    out.add("pg_catalog.pg_tablespace", oid=1663, spcname="pg_default", spcowner=OWNER_OID)
    for oid, role in ((OWNER_OID, OWNER), (oid_of("role", user), user)):
        out.add("pg_catalog.pg_roles", oid=oid, rolname=role, rolsuper=False, rolinherit=True, rolcreaterole=False,
                rolcreatedb=False, rolcanlogin=role == user, rolreplication=False, rolconnlimit=-1,
                rolpassword="********", rolbypassrls=False)  # fmt: skip
    out.add("pg_catalog.pg_user", usename=user, usesysid=oid_of("role", user), usecreatedb=False, usesuper=False,
            userepl=False, usebypassrls=False, passwd="********")  # fmt: skip
    out.add("information_schema.enabled_roles", role_name=user)


def catalog_rows(ports: Sequence[PortSchema], *, database: str, user: str,
                 settings: Mapping[str, str] | None = None) -> CatalogRows:  # fmt: skip
    """Every row of every relation this server answers for a user who may read ``ports``."""
    out = CatalogRows()
    for name, value in sorted((settings or {}).items()):
        out.add("pg_catalog.pg_settings", name=name, setting=value, context="user", vartype="string", source="default")
    per_product: dict[str, int] = {}
    for port in ports:
        product = port.address.rsplit(".", 1)[0]
        per_product[product] = per_product.get(product, 0) + 1
    names = [table_name(p.address, per_product[p.address.rsplit(".", 1)[0]] == 1) for p in ports]
    _types(out)
    _schemas(out, sorted({schema for schema, _ in names}), database, user)
    for fixed, oid in (("pg_class", PG_CLASS_OID), ("pg_attribute", 1249), ("pg_type", 1247), ("pg_proc", 1255),
                       ("pg_namespace", 2615), ("pg_constraint", 2606), ("pg_description", 2609),
                       ("pg_index", 2610), ("pg_database", 1262), ("pg_trigger", 2620), ("pg_am", 2601)):  # fmt: skip
        for spelling in (fixed, f"pg_catalog.{fixed}"):
            out.add("mp.regclass", mp_name=spelling, mp_oid=oid, mp_display=fixed)
    for port, (schema, table) in zip(ports, names, strict=True):
        _table(out, port, schema, table, database)
    return out


def _table(out: CatalogRows, port: PortSchema, schema: str, table: str, database: str) -> None:
    namespace, relid = oid_of("schema", schema), oid_of("table", port.address)
    key = [name for name in port.primary_key if name in port.schema.names]
    out.add("pg_catalog.pg_class", oid=relid, relname=table, relnamespace=namespace, reltype=0, reloftype=0,
            relowner=OWNER_OID, relam=HEAP_AM, relfilenode=relid, reltablespace=0, relpages=0, reltuples=-1.0,
            relallvisible=0, reltoastrelid=0, relhasindex=bool(key), relisshared=False, relpersistence="p",
            relkind="r", relnatts=len(port.schema), relchecks=0, relhasrules=False, relhastriggers=False,
            relhassubclass=False, relrowsecurity=False, relforcerowsecurity=False, relispopulated=True,
            relreplident="d", relispartition=False, relrewrite=0, relfrozenxid="0", relminmxid="0")  # fmt: skip
    qualified = f"{quote_ident(schema)}.{quote_ident(table)}"
    for spelling in {f"{schema}.{table}", qualified, f"{quote_ident(schema)}.{table}", f"{schema}.{quote_ident(table)}",
                     table, quote_ident(table)}:  # fmt: skip
        out.add("mp.regclass", mp_name=spelling, mp_oid=relid, mp_display=quote_ident(table))
    out.add("information_schema.tables", table_catalog=database, table_schema=schema, table_name=table,
            table_type="BASE TABLE", is_insertable_into="NO", is_typed="NO")  # fmt: skip
    out.add("pg_catalog.pg_tables", schemaname=schema, tablename=table, tableowner=OWNER, hasindexes=bool(key),
            hasrules=False, hastriggers=False, rowsecurity=False)  # fmt: skip
    if port.description:
        out.add("pg_catalog.pg_description", objoid=relid, classoid=PG_CLASS_OID, objsubid=0,
                description=port.description)  # fmt: skip
    for number, arrow_field in enumerate(port.schema, start=1):
        kind = pg_type(arrow_field.type)
        name = _NAMES.get(kind.oid) or next(("_" + _NAMES[e] for e, a in _ARRAYS.items() if a == kind.oid), "text")
        required = arrow_field.name in port.required or arrow_field.name in key
        out.add("pg_catalog.pg_attribute", attrelid=relid, attname=arrow_field.name, atttypid=kind.oid,
                attstattarget=-1, attlen=kind.size, attnum=number, attndims=1 if name.startswith("_") else 0,
                attcacheoff=-1, atttypmod=kind.modifier, attbyval=kind.size in (1, 2, 4, 8), attalign="i",
                attstorage="p" if kind.size > 0 else "x", attcompression="", attnotnull=required, atthasdef=False,
                atthasmissing=False, attidentity="", attgenerated="", attisdropped=False, attislocal=True,
                attinhcount=0, attcollation=100 if _CATEGORY.get(name) == "S" else 0)  # fmt: skip
        display = display_name(kind.oid, kind.modifier)
        base = display.split("(")[0]
        precision = _PRECISION.get(name)
        numeric = name == "numeric" and kind.modifier > 4
        out.add("information_schema.columns", table_catalog=database, table_schema=schema, table_name=table,
                column_name=arrow_field.name, ordinal_position=number, is_nullable="NO" if required else "YES",
                data_type="ARRAY" if name.startswith("_") else base, udt_catalog=database, udt_schema="pg_catalog",
                udt_name=name, dtd_identifier=str(number), is_updatable="NO", is_self_referencing="NO",
                is_identity="NO", is_generated="NEVER",
                numeric_precision=((kind.modifier - 4) >> 16) if numeric else precision,
                numeric_precision_radix=10 if numeric else 2 if precision else None,
                numeric_scale=((kind.modifier - 4) & 0xFFFF) if numeric else 0 if name.startswith("int") else None,
                datetime_precision=6 if name in ("time", "timestamp", "timestamptz") else 0 if name == "date" else None,
                )  # fmt: skip
        comment = port.comments.get(arrow_field.name)
        if comment:
            out.add("pg_catalog.pg_description", objoid=relid, classoid=PG_CLASS_OID, objsubid=number,
                    description=comment)  # fmt: skip
    if key:
        _primary_key(out, port, schema, table, database, relid, namespace, key)


def _primary_key(out: CatalogRows, port: PortSchema, schema: str, table: str, database: str, relid: int,
                 namespace: int, key: list[str]) -> None:  # fmt: skip
    """The contract's primary key, as a primary-key constraint and its unique index (both only metadata)."""
    numbers = [port.schema.names.index(name) + 1 for name in key]
    index_name, index_oid, constraint_oid = f"{table}_pkey", oid_of("index", port.address), oid_of("pkey", port.address)
    columns = ", ".join(quote_ident(name) for name in key)
    definition = f"CREATE UNIQUE INDEX {quote_ident(index_name)} ON {quote_ident(schema)}.{quote_ident(table)} " \
                 f"USING btree ({columns})"  # fmt: skip
    out.add("pg_catalog.pg_class", oid=index_oid, relname=index_name, relnamespace=namespace, reltype=0, reloftype=0,
            relowner=OWNER_OID, relam=BTREE_AM, relfilenode=index_oid, reltablespace=0, relpages=0, reltuples=-1.0,
            relallvisible=0, reltoastrelid=0, relhasindex=False, relisshared=False, relpersistence="p", relkind="i",
            relnatts=len(key), relchecks=0, relhasrules=False, relhastriggers=False, relhassubclass=False,
            relrowsecurity=False, relforcerowsecurity=False, relispopulated=True, relreplident="n",
            relispartition=False, relrewrite=0)  # fmt: skip
    out.add("pg_catalog.pg_index", indexrelid=index_oid, indrelid=relid, indnatts=len(key), indnkeyatts=len(key),
            indisunique=True, indnullsnotdistinct=False, indisprimary=True, indisexclusion=False, indimmediate=True,
            indisclustered=False, indisvalid=True, indcheckxmin=False, indisready=True, indislive=True,
            indisreplident=False, indkey=numbers, indcollation=[0] * len(key), indclass=[0] * len(key),
            indoption=[0] * len(key))  # fmt: skip
    out.add("pg_catalog.pg_constraint", oid=constraint_oid, conname=index_name, connamespace=namespace, contype="p",
            condeferrable=False, condeferred=False, convalidated=True, conrelid=relid, contypid=0, conindid=index_oid,
            conparentid=0, confrelid=0, confupdtype=" ", confdeltype=" ", confmatchtype=" ", conislocal=True,
            coninhcount=0, connoinherit=True, conkey=numbers)  # fmt: skip
    out.add("pg_catalog.pg_indexes", schemaname=schema, tablename=table, indexname=index_name, indexdef=definition)
    out.add("mp.definitions", mp_oid=index_oid, mp_definition=definition, mp_columns=list(key))
    out.add("mp.definitions", mp_oid=constraint_oid, mp_definition=f"PRIMARY KEY ({columns})", mp_columns=list(key))
    out.add("information_schema.table_constraints", constraint_catalog=database, constraint_schema=schema,
            constraint_name=index_name, table_catalog=database, table_schema=schema, table_name=table,
            constraint_type="PRIMARY KEY", is_deferrable="NO", initially_deferred="NO", enforced="YES")  # fmt: skip
    for position, name in enumerate(key, start=1):
        out.add("information_schema.key_column_usage", constraint_catalog=database, constraint_schema=schema,
                constraint_name=index_name, table_catalog=database, table_schema=schema, table_name=table,
                column_name=name, ordinal_position=position)  # fmt: skip
        out.add("information_schema.constraint_column_usage", table_catalog=database, table_schema=schema,
                table_name=table, column_name=name, constraint_catalog=database, constraint_schema=schema,
                constraint_name=index_name)  # fmt: skip
