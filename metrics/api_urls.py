from django.urls import path

from metrics import api

urlpatterns = [
    path("models/", api.ModelUnderTestList.as_view(), name="api-models"),
    path("image-sets/", api.ImageSetList.as_view(), name="api-image-sets"),
    path("image-sets/<int:pk>/images/", api.ImageSetImages.as_view(), name="api-set-images"),
    path("imports/", api.ImportCreate.as_view(), name="api-imports"),
]
