"""The embedded backend's sqlite schema and row mapping (one database per business).

sqlite is the source of truth: it keeps every chunk's exact float32 vector, so the usearch
index is a derived cache that can always be rebuilt or reconciled from it after a crash.
Chunk keys are ``INTEGER PRIMARY KEY AUTOINCREMENT``: never reused, so a key found in the
index but not in sqlite is always stale and safe to drop.
"""

from __future__ import annotations

import re
import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any

from .base import DocumentRecord, ScoredChunk

SCHEMA_VERSION = "1"

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
    document_id TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    content_type TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    chunks INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS chunks (
    key INTEGER PRIMARY KEY AUTOINCREMENT,
    chunk_id TEXT NOT NULL UNIQUE,
    document_id TEXT NOT NULL,
    source TEXT NOT NULL,
    heading TEXT NOT NULL,
    text TEXT NOT NULL,
    position INTEGER NOT NULL,
    vector BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_by_document ON chunks (document_id, position);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(
    heading, text, content='chunks', content_rowid='key', tokenize='unicode61'
);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_terms USING fts5vocab(chunks_fts, 'row');
CREATE TRIGGER IF NOT EXISTS chunks_ai AFTER INSERT ON chunks BEGIN
    INSERT INTO chunks_fts (rowid, heading, text) VALUES (new.key, new.heading, new.text);
END;
CREATE TRIGGER IF NOT EXISTS chunks_ad AFTER DELETE ON chunks BEGIN
    INSERT INTO chunks_fts (chunks_fts, rowid, heading, text)
    VALUES ('delete', old.key, old.heading, old.text);
END;
"""

DOCUMENT_COLUMNS = "document_id, source, content_type, content_hash, chunks, bytes, updated_at"
CHUNK_COLUMNS = "key, chunk_id, document_id, source, heading, text"
INSERT_DOCUMENT = (
    f"INSERT OR REPLACE INTO documents ({DOCUMENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)"  # noqa: S608
)
#: Statements below are built from the constants above and ``?`` placeholders only.

_WORD = re.compile(r"\w+", re.UNICODE)
#: Query words used for BM25; a long question gains nothing from more.
MAX_QUERY_WORDS = 32


def connect(file: Path) -> sqlite3.Connection:
    """A connection usable from the backend's worker threads (callers serialise its use)."""
    conn = sqlite3.connect(file, check_same_thread=False, isolation_level=None, timeout=30.0)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable at checkpoints, fast
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


def init_schema(conn: sqlite3.Connection, dimensions: int) -> None:
    """Create the tables, or check that an existing database was built for ``dimensions``."""
    conn.executescript(SCHEMA)
    row = conn.execute("SELECT v FROM meta WHERE k = 'dimensions'").fetchone()
    if row is None:
        conn.execute(
            "INSERT INTO meta (k, v) VALUES ('dimensions', ?), ('schema', ?)",
            (str(dimensions), SCHEMA_VERSION),
        )
    elif int(row[0]) != dimensions:
        raise ValueError(
            f"stored vectors have {row[0]} dimensions, the backend expects {dimensions}"
        )


def document_from_row(row: tuple[Any, ...]) -> DocumentRecord:
    document_id, source, content_type, digest, chunks, size, updated = row
    return DocumentRecord(
        document_id=document_id,
        source=source,
        content_type=content_type,
        content_hash=digest,
        chunks=chunks,
        bytes=size,
        updated_at=datetime.fromisoformat(updated),
    )


def document_to_row(doc: DocumentRecord) -> tuple[str, str, str, str, int, int, str]:
    return (
        doc.document_id,
        doc.source,
        doc.content_type,
        doc.content_hash,
        doc.chunks,
        doc.bytes,
        doc.updated_at.isoformat(),
    )


def chunk_from_row(row: tuple[Any, ...], score: float) -> ScoredChunk:
    _key, chunk_id, document_id, source, heading, text = row
    return ScoredChunk(
        chunk_id=chunk_id,
        document_id=document_id,
        source=source,
        heading=heading,
        text=text,
        score=score,
    )


def query_words(text: str) -> list[str]:
    return list(dict.fromkeys(w.lower() for w in _WORD.findall(text)))[:MAX_QUERY_WORDS]


def fts_query(words: list[str]) -> str | None:
    """An FTS5 MATCH expression OR-ing ``words`` (quoted: no query syntax leaks in)."""
    if not words:
        return None
    return " OR ".join('"' + w.replace('"', '""') + '"' for w in words)


#: ``ORDER BY rank`` (bm25) lets FTS5 sort internally, without a join per match.
BM25_TOP = "SELECT rowid, rank FROM chunks_fts WHERE chunks_fts MATCH ? ORDER BY rank LIMIT ?"


def bm25_top_in_documents(n: int) -> str:
    """BM25 best matches within ``n`` documents (a join: FTS5 cannot filter by column)."""
    joined = "chunks_fts f JOIN chunks c ON c.key = f.rowid"
    where = f"chunks_fts MATCH ? AND c.document_id IN ({placeholders(n)})"
    return f"SELECT f.rowid, f.rank FROM {joined} WHERE {where} ORDER BY f.rank LIMIT ?"  # noqa: S608


def bm25_among(n: int) -> str:
    """BM25 of the matching chunks among ``n`` given keys."""
    where = f"chunks_fts MATCH ? AND rowid IN ({placeholders(n)})"
    return f"SELECT rowid, rank FROM chunks_fts WHERE {where}"  # noqa: S608


def placeholders(n: int) -> str:
    """``?,?,…`` for an ``IN (…)`` list: values always go through sqlite's parameters."""
    return ",".join("?" * n)
