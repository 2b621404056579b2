"""URLs of the comparison report, under /campaigns/ (every one staff-only)."""

from django.urls import path

from ratings.views import report

app_name = "report"

urlpatterns = [
    path("<int:pk>/report/", report.report_page, name="page"),
    path("<int:pk>/report/export.<str:fmt>", report.report_download, name="export"),
    path("<int:pk>/report/compute-missing", report.report_compute_missing, name="compute_missing"),
]
