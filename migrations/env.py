"""Alembic environment: the portal's models are the target metadata.

Autogenerate compares column types (UTCDateTime as the DateTime(timezone=True) it is stored
as), nullability and server defaults, so `flask portal revision` and the schema test see every
difference between the models and the migrations.
"""

import sqlalchemy as sa
from alembic import context
from sqlmodel import SQLModel

from portal.models import load_models
from portal.timeutil import UTCDateTime

load_models()

config = context.config
target_metadata = SQLModel.metadata


def render_item(type_, obj, autogen_context):
    """Write UTCDateTime columns as the plain type they are stored as."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def compare_type(context_, inspected_column, metadata_column, inspected_type, metadata_type):
    """Compare a UTCDateTime column as DateTime(timezone=True); Alembic compares the rest."""
    if isinstance(metadata_type, UTCDateTime):
        stored = sa.Column(metadata_column.name, sa.DateTime(timezone=True))
        return context_.impl.compare_type(inspected_column, stored)
    return None


def run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        render_item=render_item,
        compare_type=compare_type,
        compare_server_default=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    run(connection)
else:
    engine = sa.engine_from_config(
        config.get_section(config.config_ini_section) or {},
        prefix="sqlalchemy.",
        poolclass=sa.pool.NullPool,
    )
    with engine.connect() as conn:
        run(conn)
