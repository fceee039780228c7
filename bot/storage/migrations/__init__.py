"""Alembic migration scripts for Tip Coach's database (run by ``bot.storage.migrate``)."""
