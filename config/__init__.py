"""Settings, logging and Sentry: the one package every other one may import."""

from config.settings import Settings, get_settings, load_settings, with_installation_secrets

__all__ = ["Settings", "get_settings", "load_settings", "with_installation_secrets"]
