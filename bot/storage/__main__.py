"""``python -m bot.storage current|upgrade|revision -m MSG``: schema migrations by hand."""

from bot.storage.migrate import main

raise SystemExit(main())
