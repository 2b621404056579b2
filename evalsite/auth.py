"""Sign-in: throttling of repeated failures (django-axes) and the one login page.

Every protected page, the researchers' pages behind ``staff_member_required`` and the
Django admin included, sends visitors to the app's own login page (``/login/``).
"""

from __future__ import annotations

from axes.backends import AxesStandaloneBackend
from django.contrib.auth.views import redirect_to_login


class SignInThrottleBackend(AxesStandaloneBackend):
    """Refuse sign-ins of a user name locked out from this address; skip request-less ones.

    ``authenticate()`` without a request comes from code (the test client's ``login``, a
    shell), not from a web form anyone can hammer, so there is nothing to throttle there;
    django-axes would raise instead.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)


def admin_login_redirect(request, *args, **kwargs):
    """The admin's login URL, answered by the app's login page (one page, one throttle)."""
    return redirect_to_login(request.GET.get("next") or "/admin/")
