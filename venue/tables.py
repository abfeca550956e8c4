"""SQLModel tables: the durable write log, batch records and venue metadata."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, LargeBinary, Text
from sqlmodel import Field, SQLModel

__all__ = [
    "BatchRow",
    "EventRow",
    "FateRow",
    "MetaRow",
    "ProofRow",
    "RfqQuoteRow",
    "RfqRow",
    "SnapshotRow",
    "TransitionRow",
]


class EventRow(SQLModel, table=True):
    """One accepted write, in acceptance order: replaying these rebuilds the venue."""

    __tablename__ = "event"

    seq: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    kind: str = Field(max_length=16)
    at_ms: int = Field(sa_column=Column(BigInteger, nullable=False))
    payload: str = Field(sa_column=Column(Text, nullable=False))


class BatchRow(SQLModel, table=True):
    """A cleared batch's record (JSON) and the hash a re-run must reproduce."""

    __tablename__ = "batch"

    batch_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    status: str = Field(max_length=16)
    result_hash: str = Field(max_length=66)
    record: str = Field(sa_column=Column(Text, nullable=False))


class FateRow(SQLModel, table=True):
    """An order's fate as of the last batch that changed it (JSON), stored with that
    batch's record: the venue keeps only recent fates in memory and reads older
    ones from here."""

    __tablename__ = "fate"

    commitment: str = Field(primary_key=True, max_length=66)
    trader: str = Field(max_length=42, index=True)
    batch_id: int = Field(sa_column=Column(BigInteger, nullable=False, index=True))
    sequence: int = Field(sa_column=Column(BigInteger, nullable=False))
    body: str = Field(sa_column=Column(Text, nullable=False))


class RfqRow(SQLModel, table=True):
    """A closed RFQ's final public view (JSON), stored when it leaves memory: the
    venue keeps only recent RFQs in memory and reads older ones from here."""

    __tablename__ = "rfq"

    rfq_id: str = Field(primary_key=True, max_length=66)
    requester: str = Field(max_length=42, index=True)
    body: str = Field(sa_column=Column(Text, nullable=False))


class RfqQuoteRow(SQLModel, table=True):
    """A quote hash taken in an RFQ that left memory (stored with the RFQ's row): a
    quote hash is taken once, ever."""

    __tablename__ = "rfq_quote"

    commitment: str = Field(primary_key=True, max_length=66)
    rfq_id: str = Field(max_length=66)


class SnapshotRow(SQLModel, table=True):
    """The venue's whole state after batch ``batch_id`` cleared and event ``event_seq``
    was applied (a pickle of the venue core, sealed with its SHA-256 digest:
    venue/snapshot_blob.py), with the ledger's state root: a
    restart loads the newest one and replays only the events after it."""

    __tablename__ = "snapshot"

    batch_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    event_seq: int = Field(sa_column=Column(BigInteger, nullable=False))
    state_root: str = Field(max_length=66)
    blob: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class ProofRow(SQLModel, table=True):
    """A proven batch's STARK proof (the bytes ``GET /v1/batches/{id}/proof`` serves)."""

    __tablename__ = "proof"

    batch_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    proof: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class TransitionRow(SQLModel, table=True):
    """A settled batch's published folder (its transition: file name -> text, as
    zlib-compressed JSON), stored when the batch leaves memory before it was
    proven, so the proving pipeline can still prove it (after a restart too);
    deleted once its proof is stored."""

    __tablename__ = "transition"

    batch_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    files: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class MetaRow(SQLModel, table=True):
    """Venue-wide settings fixed at first start (genesis time, windows, domain)."""

    __tablename__ = "meta"

    key: str = Field(primary_key=True, max_length=64)
    value: str = Field(sa_column=Column(Text, nullable=False))
