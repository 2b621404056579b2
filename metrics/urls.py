from django.urls import path

from metrics import views, views_runs

app_name = "metrics"

urlpatterns = [
    path("", views.set_list, name="set_list"),
    path("import/", views.import_upload, name="import"),
    path("imports/<int:pk>/", views.import_job, name="import_job"),
    path("imports/<int:pk>/progress", views.import_job_progress, name="import_job_progress"),
    path("models/<int:pk>/", views.model_detail, name="model_detail"),
    path("sets/<int:pk>/", views.set_detail, name="set_detail"),
    path("images/<int:pk>/", views.image_detail, name="image_detail"),
    path("images/<int:pk>/file", views.image_file, name="image_file"),
    path("images/<int:pk>/file/<int:size>", views.image_file, name="image_file_sized"),
    path("sets/<int:pk>/runs/new/", views_runs.run_start, name="run_start"),
    path("runs/", views_runs.run_list, name="run_list"),
    path("runs/<int:pk>/", views_runs.run_detail, name="run_detail"),
    path("runs/<int:pk>/progress", views_runs.run_progress, name="run_progress"),
    path("runs/<int:pk>/cancel", views_runs.run_cancel, name="run_cancel"),
]
