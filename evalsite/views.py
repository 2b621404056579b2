"""Site-wide views: the home page and a health check."""

from django.db import connection
from django.http import JsonResponse
from django.shortcuts import redirect, render


def home(request):
    if request.user.is_authenticated and request.user.is_staff:
        return redirect("metrics:set_list")
    if request.user.is_authenticated:
        # Accounts that are not researchers are judges: their studies.
        return redirect("ratings:judge_home")
    return render(request, "home.html")


def healthz(request):
    """200 when the database answers (used by compose healthchecks)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})
