"""SQLModel tables: the durable write log, batch records and venue metadata."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Text
from sqlmodel import Field, SQLModel

__all__ = ["BatchRow", "EventRow", "MetaRow"]


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


class MetaRow(SQLModel, table=True):
    """Venue-wide settings fixed at first start (genesis time, windows, domain)."""

    __tablename__ = "meta"

    key: str = Field(primary_key=True, max_length=64)
    value: str = Field(sa_column=Column(Text, nullable=False))
