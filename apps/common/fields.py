"""Serializer fields shared by the APIs."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

# The largest id a BigAutoField holds (PostgreSQL bigint, SQLite INTEGER).
DB_ID_MAX = 2**63 - 1


class DbIdField(serializers.IntegerField):
    """A row id sent by a client: 1 .. 2^63-1, so a hostile number is a 400 naming the field, never
    an overflow inside the database driver (SQLite raised OverflowError -> 500 on `pk__in`)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", DB_ID_MAX)
        super().__init__(**kwargs)
