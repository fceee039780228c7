"""The loopback fake Slack Web API (implementation in bot.fake_slack, shared with the benchmark)."""

from bot.fake_slack import BOT_ID, BOT_USER_ID, TEAM_ID, Call, FakeSlack, Workspace

__all__ = ["BOT_ID", "BOT_USER_ID", "TEAM_ID", "Call", "FakeSlack", "Workspace"]
