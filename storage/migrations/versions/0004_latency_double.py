"""results.latency in double precision on MySQL/MariaDB (FLOAT there is single precision:
0.1 read back as 0.10000000149). PostgreSQL's FLOAT and SQLite's REAL are doubles already.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name in ("mysql", "mariadb"):
        op.alter_column("results", "latency", type_=sa.Double(), existing_type=sa.Float(), existing_nullable=True)


def downgrade() -> None:
    if op.get_bind().dialect.name in ("mysql", "mariadb"):
        op.alter_column("results", "latency", type_=sa.Float(), existing_type=sa.Double(), existing_nullable=True)
