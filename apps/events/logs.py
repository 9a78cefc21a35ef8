"""The inbound URL's token is its credential: log lines that name the path (Django's request
and server loggers, gunicorn's access log) get it masked before any handler sees them."""

from __future__ import annotations

import logging
import re

_TOKEN_IN_PATH = re.compile(r"(/inbound/)[A-Za-z0-9_-]{8,}")
LOGGERS = ("django.request", "django.server", "gunicorn.access", "gunicorn.error")


class MaskInboundTokens(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a record that cannot be rendered is left to its handler
            return True
        masked = _TOKEN_IN_PATH.sub(r"\1[token]", message)
        if masked != message:
            record.msg, record.args = masked, ()
        return True


def mask_inbound_tokens() -> None:
    mask = MaskInboundTokens()
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, MaskInboundTokens) for f in logger.filters):
            logger.addFilter(mask)
