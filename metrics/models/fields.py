"""Model fields of the metrics app."""

from __future__ import annotations

from decimal import Decimal

from django.db import models

SEED_MIN = -(2**63)  # torch.manual_seed's range: int64 and uint64 seeds alike
SEED_MAX = 2**64 - 1


class SeedField(models.Field):
    """A generator seed, stored exactly from -2^63 to 2^64 - 1 (uint64 seeds are common).

    Neither database has an unsigned 64-bit integer: PostgreSQL stores a numeric(20, 0),
    SQLite text (its NUMERIC affinity would turn integers past 2^63 into lossy floats).
    Python sees an ``int`` either way.
    """

    description = "generator seed (-2^63 to 2^64 - 1)"

    def db_type(self, connection) -> str:
        if connection.vendor == "postgresql":
            return "numeric(20, 0)"
        if connection.vendor == "sqlite":
            return "text"
        return "decimal(20, 0)"

    def from_db_value(self, value, expression, connection):
        return None if value is None else int(value)

    def to_python(self, value):
        if value is None or isinstance(value, int):
            return value
        return int(Decimal(str(value)))

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value is None:
            return None
        value = self.to_python(value)
        if not SEED_MIN <= value <= SEED_MAX:
            raise ValueError(f"seed {value} is outside {SEED_MIN} to {SEED_MAX}")
        return value

    def get_db_prep_value(self, value, connection, prepared=False):
        value = value if prepared else self.get_prep_value(value)
        if value is None:
            return None
        if connection.vendor == "sqlite":
            return str(value)
        return Decimal(value)
