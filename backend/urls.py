from django.contrib import admin
from django.urls import include, path
from django.utils.translation import gettext_lazy as _
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from backend import api
from backend.admin_dashboard import dashboard_view
from coupons.api import flash_deals

admin.site.site_header = _("Retail admin")
admin.site.site_title = _("Retail admin")
admin.site.index_title = _("Coupons, flash deals and members")

handler404 = "backend.exception_handler.json_not_found"
handler500 = "backend.exception_handler.json_server_error"

urlpatterns = [
    path("api/health", api.HealthApi.as_view(), name="health"),
    # The flash-deal grab is matched before the app includes: during a sale it is nearly all of
    # the traffic, and every include tried before it costs a Resolver404 (measured: a third of
    # the CPU of a sold-out answer).
    path("api/deals/<int:deal_id>/grab", flash_deals.DealGrabApi.as_view(), name="deal-grab"),
    path("api/ready", api.ReadyApi.as_view(), name="ready"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("api/", include("members.urls")),
    path("api/", include("stores.urls")),
    path("api/", include("coupons.urls")),
    path("", include("stores.web_urls")),
    path("admin/dashboard/", admin.site.admin_view(dashboard_view), name="admin-dashboard"),
    path("admin/", admin.site.urls),
]
