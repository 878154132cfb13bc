"""Credentials never leave in clear: URLs with a password or token are masked before they
are printed, put in a note or an error, or written to the store."""

from __future__ import annotations

import re

__all__ = ["mask_secrets", "mask_url"]

# scheme://user:password@host or scheme://token@host, anywhere in a text.
_CREDENTIALS = re.compile(r"(?P<scheme>[a-zA-Z][\w+.-]*://)(?P<creds>[^/\s@]+)@")


def _masked(match: re.Match[str]) -> str:
    creds = match.group("creds")
    user = creds.split(":", 1)[0] if ":" in creds else ""
    return f"{match.group('scheme')}{user + ':' if user else ''}***@"


def mask_url(url: str) -> str:
    """``url`` with its password (or bare token) replaced by ``***``."""
    return mask_secrets(url)


def mask_secrets(text: str) -> str:
    """``text`` with every credential-carrying URL in it masked."""
    return _CREDENTIALS.sub(_masked, text)
