"""The embedded defaults used by `make run`: SQLite, local-memory cache, filesystem broker."""

from config.env import ensure_dotenv, env, read_dotenv

ensure_dotenv()
read_dotenv()

from config.settings.base import *  # noqa: E402, F403

DEBUG = env.bool("DEBUG", default=True)

# Static files straight from the app folders, picked up as they change.
STATIC_ROOT = None
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
