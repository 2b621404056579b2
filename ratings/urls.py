"""URLs of the ratings app.

Judges' URLs carry only the campaign's random key and random image tokens; the
researchers' pages live under /campaigns/ (``staff_urlpatterns``, every one of
them staff-only, which tests/ratings/test_authorization.py checks one by one).
"""

from django.urls import path

from ratings.views import judge, staff

app_name = "ratings"

judge_urlpatterns = [
    path("judge/", judge.judge_home, name="judge_home"),
    path("s/<str:key>/", judge.entry, name="entry"),
    path("s/<str:key>/instructions", judge.instructions, name="instructions"),
    path("s/<str:key>/task", judge.task, name="task"),
    path("s/<str:key>/submit", judge.submit, name="submit"),
    path("s/<str:key>/done", judge.done, name="done"),
    path("s/<str:key>/i/<str:token>/<int:size>.jpg", judge.image, name="image"),
]

staff_urlpatterns = [
    path("campaigns/", staff.campaign_list, name="campaign_list"),
    path("campaigns/new", staff.campaign_new, name="campaign_new"),
    path("campaigns/<int:pk>/", staff.campaign_detail, name="campaign_detail"),
    path("campaigns/<int:pk>/status", staff.campaign_status, name="campaign_status"),
    path("campaigns/<int:pk>/edit", staff.campaign_edit, name="campaign_edit"),
    path("campaigns/<int:pk>/delete", staff.campaign_delete_view, name="campaign_delete"),
    path("campaigns/<int:pk>/duplicate", staff.campaign_duplicate_view, name="campaign_duplicate"),
    path("campaigns/<int:pk>/invite", staff.campaign_invite_view, name="campaign_invite"),
    path("campaigns/<int:pk>/items", staff.campaign_items, name="campaign_items"),
    path(
        "campaigns/<int:pk>/judges/<int:judge_pk>/exclusion",
        staff.judge_exclusion,
        name="judge_exclusion",
    ),
    path("campaigns/<int:pk>/ratings.csv", staff.export_csv, name="export_csv"),
    path("campaigns/<int:pk>/ratings.json", staff.export_json, name="export_json"),
]

urlpatterns = judge_urlpatterns + staff_urlpatterns
