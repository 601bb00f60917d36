"""Alembic environment: migrations target SQLModel's metadata and the engine Stockwarden already made."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import api.models  # noqa: F401
import audit.models  # noqa: F401  (each import registers its tables on SQLModel.metadata)
import governance.models  # noqa: F401
import inventory.forecast_models  # noqa: F401
import inventory.models  # noqa: F401
import notifications.models  # noqa: F401
import reports.models  # noqa: F401
import rules.models  # noqa: F401
from core.db import make_engine

config = context.config
engine = config.attributes.get("engine") or make_engine(config.get_main_option("sqlalchemy.url") or "")

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=SQLModel.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
