"""Database access below the ORM: the one place where hand-written SQL meets the driver.

The rule for SQL in this project (docs/architecture.md):

- A domain's SQL, whatever its form, lives in ``<domain>/store.py``. Store functions take a
  :class:`~sqlalchemy.orm.Session` (or a cursor from :func:`driver_cursor`) and never begin,
  commit or roll back: the job that calls them owns the transaction (``db.session_scope``).
- SQL text is written with ``:name`` placeholders, always (``:id::uuid`` casts work), and runs
  through :func:`execute`; :func:`execute_binary` runs the same text with binary parameters
  and results, for statements that carry large arrays (``unnest(:ids)``), where text quoting
  would cost more than the statement.
- Simple reads and writes of one mapped table may use SQLAlchemy Core/ORM constructs instead of
  text, in the same store modules.
- Bulk writes of hundreds of thousands of rows use :func:`copy_arrays` (binary ``COPY``), and
  bulk reads of fixed-width columns :func:`copy_out_arrays` (binary ``COPY ... TO``, decoded by
  numpy: no Python object per row).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt
import psycopg
from psycopg.rows import namedtuple_row
from sqlalchemy.orm import Session

# `:name` parameters, not `::type` casts nor `:=`.
_PARAM = re.compile(r"(?<![:\w]):([A-Za-z_][A-Za-z0-9_]*)")

Params = Mapping[str, Any]


def execute(session: Session, statement: str, params: Params | None = None) -> list[Any]:
    """Run ``statement`` (``:name`` placeholders) in the session's transaction.

    Returns its rows as named tuples (empty for a plain write).
    """
    with driver_cursor(session) as cursor:
        cursor.execute(to_psycopg(statement), dict(params or {}))
        return cursor.fetchall() if cursor.description else []


@lru_cache(maxsize=512)
def to_psycopg(statement: str, *, binary: bool = False) -> str:
    """``statement`` with each ``:name`` turned into psycopg's ``%(name)s`` (or ``%(name)b``).

    A literal ``%`` is doubled first, so ``LIKE 'a%'`` survives the conversion. Cached: a
    job's statements are a few constant strings, and the regex over a long one costs about as
    much CPU as a short job's whole round trip.
    """
    marker = r"%(\1)b" if binary else r"%(\1)s"
    return _PARAM.sub(marker, statement.replace("%", "%%"))


@contextmanager
def driver_cursor(session: Session, *, named_rows: bool = True) -> Iterator[psycopg.Cursor[Any]]:
    """A psycopg cursor on the session's own connection and transaction (it opens none)."""
    connection = session.connection().connection.driver_connection
    assert isinstance(connection, psycopg.Connection)
    factory = namedtuple_row if named_rows else None
    with connection.cursor(row_factory=factory) as cursor:  # type: ignore[arg-type]
        yield cursor


def execute_binary(
    cursor_or_session: psycopg.Cursor[Any] | Session, statement: str, params: Params | None = None
) -> list[Any]:
    """Run ``statement`` (``:name`` placeholders) with binary parameters and results."""
    if isinstance(cursor_or_session, Session):
        with driver_cursor(cursor_or_session) as cursor:
            return execute_binary(cursor, statement, params)
    cursor = cursor_or_session
    cursor.execute(to_psycopg(statement, binary=True), dict(params or {}), binary=True)
    return cursor.fetchall() if cursor.description else []


def uuid_bytes(ids: npt.NDArray[np.str_]) -> npt.NDArray[np.void]:
    """Canonical uuid strings as their 16 bytes (PostgreSQL's binary form of uuid), for COPY."""
    return np.frombuffer(bytes.fromhex("".join(ids.tolist()).replace("-", "")), dtype="V16")


#: numpy kind -> (PostgreSQL binary COPY field type, field width in bytes).
_COPY_FIELDS = {"V": ("V16", 16), "f": (">f8", 8), "i": (">i4", 4)}


def copy_arrays(
    cursor: psycopg.Cursor[Any],
    table: str,
    columns: Sequence[str],
    arrays: Sequence[npt.NDArray[Any]],
) -> int:
    """Write equal-length arrays as rows of ``table(columns)`` in one binary ``COPY``.

    Supported arrays: 16-byte void (a uuid's bytes), float64, int32, and fixed-width bytes (a
    value already in the column type's binary format, all of the array's width). The whole COPY
    stream is built by numpy in one buffer, with no Python object per row. Returns the rows
    written.
    """
    count = len(arrays[0]) if arrays else 0
    if count == 0:
        return 0
    formats = [
        (array.dtype.str, array.dtype.itemsize)
        if array.dtype.kind == "S"
        else _COPY_FIELDS[array.dtype.kind]
        for array in arrays
    ]
    fields: list[tuple[str, str]] = [("fields", ">i2")]
    for i, (field, _) in enumerate(formats):
        fields += [(f"len{i}", ">i4"), (f"val{i}", field)]
    rows = np.empty(count, dtype=np.dtype(fields))
    rows["fields"] = len(arrays)
    for i, (array, (_, length)) in enumerate(zip(arrays, formats, strict=True)):
        rows[f"len{i}"] = length
        rows[f"val{i}"] = array
    header = b"PGCOPY\n\xff\r\n\x00" + b"\x00" * 8
    target = f"{table} ({', '.join(columns)})" if columns else table
    with cursor.copy(f"COPY {target} FROM STDIN WITH (FORMAT BINARY)") as copy:
        copy.write(header + rows.tobytes() + b"\xff\xff")
    return count


#: PostgreSQL binary COPY field types by column type name: numpy dtype of the value.
COPY_OUT_TYPES = {
    "bool": "u1",
    "int2": ">i2",
    "int4": ">i4",
    "int8": ">i8",
    "float4": ">f4",
    "float8": ">f8",
    "uuid": "V16",
    "date": ">i4",
}
_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00"


def copy_out_arrays(
    cursor: psycopg.Cursor[Any],
    query: str,
    columns: Sequence[tuple[str, str]],
    params: Params | None = None,
) -> dict[str, npt.NDArray[Any]]:
    """Rows of ``query`` (``:name`` placeholders, bound client side: COPY takes no server
    parameters, so keep them small) as one array per column, through one binary
    ``COPY ... TO STDOUT`` decoded by numpy.

    ``columns``: (name, PostgreSQL type in :data:`COPY_OUT_TYPES`) in the query's order; every
    value must be non-null (coalesce in the query). Integers and floats come back in native
    byte order; a ``date`` as days since 2000-01-01 (int32), a ``uuid`` as its 16 bytes.
    Raises ValueError if a row does not have the declared shape.
    """
    stream = bytearray()
    statement = f"COPY ({to_psycopg(query) if params else query}) TO STDOUT WITH (FORMAT BINARY)"
    with cursor.copy(statement, dict(params) if params else None) as copy:
        for block in copy:
            stream += block
    if not stream.startswith(_COPY_HEADER):
        raise ValueError("not a binary COPY stream")
    (extension,) = np.frombuffer(stream, ">u4", count=1, offset=15)
    start = 19 + int(extension)
    fields: list[tuple[str, str]] = [("count", ">i2")]
    for name, kind in columns:
        fields += [(f"len_{name}", ">i4"), (name, COPY_OUT_TYPES[kind])]
    row = np.dtype(fields)
    body = len(stream) - start - 2
    if body % row.itemsize:
        raise ValueError(f"COPY rows are not {len(columns)} non-null fixed-width columns")
    rows = np.frombuffer(stream, row, count=body // row.itemsize, offset=start)
    if len(rows) and not bool((rows["count"] == len(columns)).all()):
        raise ValueError(f"COPY rows do not have {len(columns)} columns")
    out: dict[str, npt.NDArray[Any]] = {}
    for name, kind in columns:
        if len(rows) and not bool((rows[f"len_{name}"] == row[name].itemsize).all()):
            raise ValueError(f"column {name} has nulls or is not {kind}")
        values = rows[name]
        out[name] = (
            values.copy() if kind == "uuid" else values.astype(values.dtype.newbyteorder("="))
        )
    return out
