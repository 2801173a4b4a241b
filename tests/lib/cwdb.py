"""tests/lib/cwdb.py — the database of a Python test, on either backend.

The Python twin of tests/lib/db.sh. By default a database is a SQLite file;
with CW_TEST_BACKEND=pg (PGHOST, PGPORT, PGUSER from scripts/pg-cluster.sh)
it is a fresh PostgreSQL database, dropped at exit. No driver module is
needed: PostgreSQL is reached through psql.

  cw_db(name, folder=None, keep=False)
                               a new database for --db: FOLDER/NAME.db (default
                               the current folder) or postgresql:///…?host=…&port=…;
                               keep: not dropped at exit (named after FOLDER,
                               dropped when made again: the serve world)
  cw_db_clone(src, name, folder=None, keep=False)
                               a copy of the closed database src
  cw_q(db, sql, params=())     run one statement; the rows as a list of tuples
                               (ints, floats, strings, None; PostgreSQL's
                               booleans come back as True/False)
  cw_bytes(v)                  a blob column's value as bytes
  connect(db)                  sqlite3.connect(db) on SQLite; on PostgreSQL an
                               object with the same execute(sql, params)
                               .fetchone()/.fetchall()/iteration, commit(), close()
  cw_dump(db, exclude=())      the whole content as text, without the tables
                               in exclude (SQLite's iterdump; on PostgreSQL
                               every table's rows sorted on all columns)
  is_pg()                      True when the backend is PostgreSQL
  sqlite_only(what)            True on SQLite; on PostgreSQL prints a SKIP line
"""
import atexit
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time

BACKEND = os.environ.get("CW_TEST_BACKEND", "sqlite")
if BACKEND not in ("sqlite", "pg"):
    sys.exit(f"cwdb: CW_TEST_BACKEND must be sqlite or pg, not {BACKEND!r}")
if BACKEND == "pg" and not (os.environ.get("PGHOST") and os.environ.get("PGPORT")):
    sys.exit("cwdb: CW_TEST_BACKEND=pg needs PGHOST and PGPORT (scripts/pg-cluster.sh start DIR)")
os.environ.setdefault("PGUSER", "churnwatch")
TEST_NAME = os.environ.get("CW_TEST_NAME") or os.path.splitext(os.path.basename(sys.argv[0]))[0]
_created = []


def is_pg():
    return BACKEND == "pg"


def sqlite_only(what):
    if not is_pg():
        return True
    print(f"SKIP (pg): {what} (SQLite files only)")
    return False


def _pgname(db):
    return db[len("postgresql:///"):].split("?", 1)[0]


def _pgbin():
    """The server's bin folder: Debian's /usr/bin/psql, createdb and dropdb
    are a Perl wrapper, ~0.1 s more a call under load."""
    global _PGBIN
    if _PGBIN is None:
        try:
            b = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True).stdout.strip()
        except OSError:
            b = ""
        _PGBIN = b if b and os.access(os.path.join(b, "psql"), os.X_OK) else ""
    return _PGBIN


_PGBIN = None


def _run(args, **kw):
    if args[0] in ("psql", "createdb", "dropdb") and _pgbin():
        args = [os.path.join(_pgbin(), args[0]), *args[1:]]
    return subprocess.run(args, check=True, capture_output=True, text=True, **kw)


def _pgcreate(name, folder, template=None, keep=False):
    n = re.sub(r"[^a-z0-9_]", "_", f"cw_{TEST_NAME}_{os.path.basename(name)}".lower())[:50]
    if keep:
        where = os.path.abspath(folder or os.getcwd())
        n = f"{n}_{hashlib.sha1(where.encode()).hexdigest()[:8]}"
    else:
        n = f"{n}_{os.getpid()}"
    subprocess.run(["dropdb", "--if-exists", "--force", n], capture_output=True)
    # A template must have no connection open: a reader of the world for
    # a moment (another test's query) is waited out.
    for attempt in range(20):
        r = subprocess.run(["createdb"] + (["-T", template] if template else []) + [n],
                           capture_output=True, text=True)
        if r.returncode == 0:
            break
        if "being accessed by other users" not in r.stderr or attempt == 19:
            raise RuntimeError(f"cwdb: createdb {n} failed: {r.stderr.strip()}")
        time.sleep(0.25)
    if not keep and n not in _created:
        _created.append(n)
    return f"postgresql:///{n}?host={os.environ['PGHOST']}&port={os.environ['PGPORT']}"


def cw_db(name, folder=None, keep=False):
    if is_pg():
        return _pgcreate(name, folder, keep=keep)
    return os.path.join(os.path.abspath(folder or os.getcwd()), name + ".db")


def cw_db_clone(src, name, folder=None, keep=False):
    if is_pg():
        return _pgcreate(name, folder, _pgname(src), keep)
    dst = cw_db(name, folder)
    shutil.copy2(src, dst)
    if os.path.exists(src + "-wal"):
        shutil.copy2(src + "-wal", dst + "-wal")
    return dst


def cw_bytes(v):
    """A blob column's value as bytes (PostgreSQL's bytea arrives as \\x… text)."""
    if isinstance(v, str) and v.startswith("\\x"):
        return bytes.fromhex(v[2:])
    return v


def _literal(v):
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, (int, float)):
        return repr(v)
    return "'" + str(v).replace("'", "''") + "'"


def _bind(sql, params):
    """Substitute ? and ?N placeholders (outside quotes) with SQL literals."""
    params = list(params)
    out, q, i, k, used = [], None, 0, 0, set()
    while i < len(sql):
        ch = sql[i]
        i += 1
        if q:
            q = None if ch == q else q
        elif ch in "'\"":
            q = ch
        elif ch == "?":
            m = re.match(r"\d+", sql[i:])
            if m:
                n = int(m.group(0)) - 1
                i += len(m.group(0))
            else:
                n, k = k, k + 1
            if not 0 <= n < len(params):
                raise ValueError(f"cwdb: no parameter {n + 1} for {sql!r}")
            used.add(n)
            out.append(_literal(params[n]))
            continue
        out.append(ch)
    if len(used) != len(params):
        raise ValueError(f"cwdb: {len(params)} parameters, {len(used)} used in {sql!r}")
    return "".join(out)


def cw_q(db, sql, params=()):
    if not is_pg():
        import sqlite3
        con = sqlite3.connect(db)
        try:
            rows = con.execute(sql, params).fetchall()
            con.commit()
        finally:
            con.close()
        return rows
    sql = _bind(sql.strip().rstrip(";"), params)
    query = sql
    # A query's rows travel as JSON (typed, column order kept); anything
    # else runs as it is.
    if re.match(r"(?is)^\s*(select|with|values)\b", sql):
        query = f"SELECT coalesce(json_agg(row_to_json(q)), '[]') FROM ({sql}) q"
    try:
        r = _run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", db, "-c", query])
    except subprocess.CalledProcessError as e:
        raise RuntimeError(f"cwdb: {sql}: {e.stderr.strip()}") from None
    if query is sql:
        return []
    return [tuple(v for _, v in row) for row in json.loads(r.stdout, object_pairs_hook=list)]


def cw_dump(db, exclude=()):
    if not is_pg():
        import sqlite3
        c = sqlite3.connect(db)
        skip = tuple(f'INSERT INTO "{t}"' for t in exclude)
        d = "\n".join(l for l in c.iterdump() if not (skip and l.startswith(skip)))
        c.close()
        return d
    # One psql for the whole dump (a psql per table is slow under load);
    # partitions are read through their parent table. The API change
    # counter's tables are machinery, not content (any write moves it).
    tables = cw_q(db, "SELECT c.relname, count(a.attnum) FROM pg_class c"
                  " JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped"
                  " WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p')"
                  " AND NOT c.relispartition AND c.relname NOT IN ('cw_api_version', 'cw_api_pending')"
                  " GROUP BY c.relname ORDER BY 1")
    args = []
    for t, n in tables:
        if t in exclude:
            continue
        order = ",".join(str(i) for i in range(1, n + 1))
        args += ["-c", f"\\echo -- table {t}",
                 "-c", f'COPY (SELECT * FROM "{t}" ORDER BY {order}) TO STDOUT']
    if not args:
        return ""
    return _run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", db, *args]).stdout


class _Rows:
    def __init__(self, rows):
        self.rows = rows

    def fetchone(self):
        return self.rows[0] if self.rows else None

    def fetchall(self):
        return self.rows

    def __iter__(self):
        return iter(self.rows)


class _PgConnection:
    """What the tests use of a sqlite3 connection; every statement is its
    own transaction (psql), so commit() has nothing left to do."""

    def __init__(self, db):
        self.db = db

    def execute(self, sql, params=()):
        return _Rows(cw_q(self.db, sql, params))

    def commit(self):
        pass

    def close(self):
        pass


def connect(db):
    if is_pg():
        return _PgConnection(db)
    import sqlite3
    return sqlite3.connect(db)


@atexit.register
def _cleanup():
    for n in _created:
        subprocess.run(["dropdb", "--if-exists", "--force", n], capture_output=True)
