"""Query expressions that must mean the same thing on every database we run on.

The platform runs on PostgreSQL in production and on SQLite as the embedded default; an
expression a user's path needs is written once here with one SQL form per database.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Expression
from django.db.models.functions import Collate


class Bytewise(Collate):
    """Order (or compare) a text column bytewise, as Python compares str.

    The export merges two ordered query streams in Python, so the database must sort exactly as
    Python does, whatever its locale. PostgreSQL spells that collation "C"; SQLite has no "C" but
    its built-in BINARY collation (memcmp over UTF-8) gives the same order.
    """

    def __init__(self, expression: Expression | Any) -> None:
        super().__init__(expression, "C")

    def as_sqlite(self, compiler: Any, connection: Any, **extra_context: Any) -> Any:
        extra_context["collation"] = "BINARY"
        return super().as_sql(compiler, connection, **extra_context)
