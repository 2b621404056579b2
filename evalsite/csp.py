"""Content-Security-Policy helpers (django-csp sends the policy; see settings)."""

from __future__ import annotations

import base64
import hashlib
import re

_STYLE = re.compile(rb"<style[^>]*>(.*?)</style>", re.S)


def style_hashes(html: bytes) -> list[str]:
    """CSP sources allowing exactly the inline <style> elements of a self-contained page."""
    return sorted(
        {
            f"'sha256-{base64.b64encode(hashlib.sha256(body).digest()).decode()}'"
            for body in _STYLE.findall(html)
        }
    )


def allow_inline_styles_of(response, html: bytes):
    """Let ``response`` (a self-contained HTML file) keep its own <style> elements, by hash."""
    hashes = style_hashes(html)
    if hashes:
        response._csp_update = {"style-src": hashes}
    return response
