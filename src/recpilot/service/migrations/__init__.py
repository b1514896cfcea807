"""The service tables' migration history (alembic): ``env.py`` and one module per revision in
``versions/``; declared as :data:`recpilot.service.storage.SERVICE`."""
