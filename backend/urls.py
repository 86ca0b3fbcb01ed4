from django.contrib import admin
from django.urls import include, path
from django.utils.translation import gettext_lazy as _
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from backend import api
from backend.admin_dashboard import dashboard_view
from coupons.urls import urlpatterns as coupons_urls
from members.urls import urlpatterns as members_urls
from stores.urls import urlpatterns as stores_urls

admin.site.site_header = _("Retail admin")
admin.site.site_title = _("Retail admin")
admin.site.index_title = _("Coupons, flash deals and members")

handler404 = "backend.exception_handler.json_not_found"
handler500 = "backend.exception_handler.json_server_error"

urlpatterns = [
    path("api/health", api.HealthApi.as_view(), name="health"),
    path("api/ready", api.ReadyApi.as_view(), name="ready"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    # The apps' API routes under one resolver: an include that does not hold the route raises a
    # Resolver404 listing what it tried, and three includes under the same prefix cost every
    # request routed past the first one or two of those (a third of a sold-out grab's CPU).
    path("api/", include([*members_urls, *stores_urls, *coupons_urls])),
    path("", include("stores.web_urls")),
    path("admin/dashboard/", admin.site.admin_view(dashboard_view), name="admin-dashboard"),
    path("admin/", admin.site.urls),
]
