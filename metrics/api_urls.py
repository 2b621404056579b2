from django.urls import path

from metrics import api, api_runs

urlpatterns = [
    path("models/", api.ModelUnderTestList.as_view(), name="api-models"),
    path("image-sets/", api.ImageSetList.as_view(), name="api-image-sets"),
    path("image-sets/<int:pk>/images/", api.ImageSetImages.as_view(), name="api-set-images"),
    path("imports/", api.ImportCreate.as_view(), name="api-imports"),
    path("imports/<int:pk>/", api.ImportJobDetail.as_view(), name="api-import"),
    path("runs/", api_runs.RunListCreate.as_view(), name="api-runs"),
    path("runs/<int:pk>/", api_runs.RunDetail.as_view(), name="api-run"),
    path("runs/<int:pk>/items/", api_runs.RunItems.as_view(), name="api-run-items"),
    path("runs/<int:pk>/cancel/", api_runs.RunCancel.as_view(), name="api-run-cancel"),
]
