"""The catalog store's migration history (alembic): ``env.py`` and one module per revision in
``versions/``; declared as :data:`recpilot.store.schema.CATALOG`."""
