"""URLs: catalog (/catalog/), ratings (/), REST API (/api/), admin (/admin/)."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from evalsite import views
from evalsite.auth import admin_login_redirect

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    # Before admin.site.urls: the admin's own login page is replaced by the app's.
    path("admin/login/", admin_login_redirect),
    path("admin/", admin.site.urls),
    path("catalog/", include("metrics.urls")),
    path("api/", include("metrics.api_urls")),
    path("api/", include("ratings.report_api")),
    path("campaigns/", include("ratings.report_urls")),
    path("", include("ratings.urls")),
]
