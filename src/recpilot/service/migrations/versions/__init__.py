"""The service history's revisions, oldest first by ``down_revision``."""
