"""The cashier page: one HTML page whose script talks to the POS API with a shift token.

The page holds no server-side session: the token lives in the browser tab's sessionStorage, so
closing the tab signs the cashier out. Everything the page shows comes from ``/api/pos/``.
"""

from django.conf import settings
from django.shortcuts import render
from django.views.decorators.http import require_GET


@require_GET
def pos_page(request):
    response = render(
        request,
        "stores/pos.html",
        {
            "void_window_seconds": int(settings.COUPON_VOID_WINDOW.total_seconds()),
            "time_zone": settings.TIME_ZONE,
        },
    )
    # The page is the same for every cashier; the data it shows is fetched with the token.
    response["Cache-Control"] = "no-cache"
    response["Referrer-Policy"] = "same-origin"
    return response
