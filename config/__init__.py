"""Settings for Tip Coach: one pydantic-settings class, built once, passed down."""

from config.settings import Settings, SettingsError, load_settings

__all__ = ["Settings", "SettingsError", "load_settings"]
