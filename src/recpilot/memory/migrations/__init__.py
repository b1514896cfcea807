"""The profile memory's migration history (alembic): ``env.py`` and one module per revision in
``versions/``; declared as :data:`recpilot.memory.sql_schema.MEMORY`."""
