"""Admins' App Home must never starve reps: 100 admin opens in about 30 s (each with the
gap report over 20,000 query-log rows of the week) while a rep asks every 0.3 s; prints
reps' answer p50/p95 and the bot's PSS. Target: p95 <= 1 s, PSS <= 400 MB.

    python tests/bench_admin_home.py                      # SQLite
    python tests/bench_admin_home.py postgresql+psycopg://postgres@127.0.0.1:5432/EMPTY_DB
"""

import json
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_slack import (
    BENCH_TOKEN,
    BOT_USER_ID,
    TEAM_ID,
    BotProcess,
    _command_body,
    _post,
    _wait_path,
    tree_pss_mb,
)
from fake_slack import FakeSlack
from sqlalchemy import insert

from bot.storage import Store
from bot.storage.schema import query_log
from config.settings import load_settings


def main() -> None:
    db = sys.argv[1] if len(sys.argv) > 1 else ""
    work = Path(tempfile.mkdtemp(prefix="adminload-"))
    settings = load_settings()  # the bundled model; COACH_DATA_DIR as set (index reused)
    with FakeSlack(token=BENCH_TOKEN) as slack:
        bot = BotProcess(settings, slack, work)
        if db:
            bot.env["DATABASE_URL"] = db
        url = bot.env["DATABASE_URL"]
        store = Store.from_url(url)
        now = datetime.now(UTC)
        rows = [
            dict(
                created_at=now - timedelta(minutes=i % 9000),
                team_id=TEAM_ID,
                user_id=f"U{i % 300:05d}",
                surface="dm",
                text=f"customer wants a refund for the late order number {i % 50} again",
                answered=bool(i % 3),
                confidence=0.5,
                tip_id="when-they-want-the-supervisor" if i % 3 else None,
                nearest_tip_id="when-they-want-the-supervisor",
                nearest_title="When They Want the Supervisor",
                chunk_ids=[],
                suggestion_ids=[],
                latency_ms=5.0,
                error=None,
                tier="confident" if i % 3 else "decline",
            )
            for i in range(20000)
        ]
        with store.engine.begin() as c:
            c.execute(insert(query_log), rows)
        store.close()
        bot.env["COACH_ADMINS"] = "U0ADMIN01"
        bot.start()
        base_pss = tree_pss_mb(bot.pid)
        latencies, pss = [], [base_pss]
        stop = threading.Event()

        def sample():
            while not stop.is_set():
                pss.append(tree_pss_mb(bot.pid))
                time.sleep(0.5)

        def admin():
            for n in range(100):
                body = json.dumps(
                    {
                        "type": "event_callback",
                        "team_id": TEAM_ID,
                        "api_app_id": "A0BENCH",
                        "event_id": f"EvADM{n:05d}{int(time.time())}",
                        "event_time": int(time.time()),
                        "authorizations": [
                            {"team_id": TEAM_ID, "user_id": BOT_USER_ID, "is_bot": True}
                        ],
                        "event": {
                            "type": "app_home_opened",
                            "user": "U0ADMIN01",
                            "channel": "D0ADMIN",
                            "tab": "home",
                            "event_ts": f"{time.time():.6f}",
                        },
                    }
                )
                _post(f"{bot.url}/slack/events", body, "application/json")
                time.sleep(0.27)

        def rep():
            for n in range(90):
                name = f"rep{n}"
                sent = time.perf_counter()
                _post(
                    f"{bot.url}/slack/events",
                    _command_body(slack, "customer wants the supervisor", name),
                    "application/x-www-form-urlencoded",
                )
                got = _wait_path(slack, "response_url", f"/{name}", timeout=30)
                latencies.append((got - sent) * 1000 if got else 30000)
                time.sleep(max(0, 0.3 - (time.perf_counter() - sent)))

        threads = [
            threading.Thread(target=sample),
            threading.Thread(target=admin),
            threading.Thread(target=rep),
        ]
        t0 = time.perf_counter()
        for t in threads[1:] + threads[:1]:
            t.start()
        threads[1].join()
        threads[2].join()
        stop.set()
        threads[0].join()
        took = time.perf_counter() - t0
        publishes = len(slack.calls("views.publish"))
        bot.stop()
    lat = sorted(latencies)

    def p(q):
        return lat[min(len(lat) - 1, int(q * len(lat)))]

    print(
        f"db={url.split(':')[0]} took {took:.1f}s admin opens 100, views.publish {publishes}; rep answers {len(lat)}: p50 {p(0.5):.0f} ms p95 {p(0.95):.0f} ms max {lat[-1]:.0f} ms; PSS idle {base_pss:.0f} MB, max {max(pss):.0f} MB"
    )


if __name__ == "__main__":
    main()
