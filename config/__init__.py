"""Settings for Tip Coach: one pydantic-settings class, built once, passed down."""

from config.settings import Settings, SettingsError, get_settings, load_settings

__all__ = ["Settings", "SettingsError", "get_settings", "load_settings"]
