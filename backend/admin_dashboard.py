"""The admin dashboard at ``/admin/dashboard/``: campaign and deal figures as charts.

Marketing admins and superusers see the whole chain; a store manager sees their own store's
claims and redemptions. Other staff are refused. Charts are inline SVG drawn here.
"""

import datetime
from dataclasses import dataclass

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from backend import dashboard
from backend.svg_charts import Series, bar_chart, horizontal_bar_chart, line_chart
from coupons.models import FlashOrderStatus
from stores.models import StaffRole

DEFAULT_DAYS = 14
MAX_DAYS = 92


@dataclass(frozen=True)
class DashboardScope:
    store_id: int | None
    store_label: str


def dashboard_scope_for(user) -> DashboardScope:
    """Whose figures ``user`` may see: all stores, or a store manager's own store."""
    if user.is_superuser:
        return DashboardScope(store_id=None, store_label=_("All stores"))
    profile = getattr(user, "staff_profile", None)
    if profile is None:
        raise PermissionDenied
    if profile.role == StaffRole.MARKETER:
        return DashboardScope(store_id=None, store_label=_("All stores"))
    if profile.role == StaffRole.STORE_MANAGER and profile.store_id is not None:
        return DashboardScope(store_id=profile.store_id, store_label=str(profile.store))
    raise PermissionDenied


class _DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self):
        # The browser's date picker reads and writes ISO dates, whatever the language.
        super().__init__(format="%Y-%m-%d")


class DateRangeForm(forms.Form):
    start = forms.DateField(label=gettext_lazy("From"), widget=_DateInput())
    end = forms.DateField(label=gettext_lazy("To"), widget=_DateInput())

    def clean(self):
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if start and end:
            if start > end:
                raise forms.ValidationError(_("The start date must not be after the end date."))
            if (end - start).days + 1 > MAX_DAYS:
                raise forms.ValidationError(_("Choose at most %(days)s days.") % {"days": MAX_DAYS})
        return data


def _default_range() -> tuple[datetime.date, datetime.date]:
    end = timezone.localdate()
    return end - datetime.timedelta(days=DEFAULT_DAYS - 1), end


def _yuan(fen: float) -> str:
    fen = int(fen)
    return f"{fen // 100:,}.{fen % 100:02d}"


def _duration(value: datetime.timedelta | float) -> str:
    """3725 s → "1h 02m", 192 s → "3m 12s", 45 s → "45s"."""
    seconds = int(value.total_seconds() if isinstance(value, datetime.timedelta) else value)
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return _("%(h)dh %(m)02dm") % {"h": hours, "m": minutes}
    if minutes:
        return _("%(m)dm %(s)02ds") % {"m": minutes, "s": seconds}
    return _("%(s)ds") % {"s": seconds}


def _day_label(day: datetime.date) -> str:
    return f"{day.month}/{day.day}"


def dashboard_view(request):
    scope = dashboard_scope_for(request.user)
    default_start, default_end = _default_range()
    if "start" in request.GET or "end" in request.GET:
        form = DateRangeForm(request.GET)
    else:
        form = DateRangeForm(initial={"start": default_start, "end": default_end})
    if form.is_bound and form.is_valid():
        start, end = form.cleaned_data["start"], form.cleaned_data["end"]
    else:
        start, end = default_start, default_end

    per_day = dashboard.coupon_figures_per_day(start=start, end=end, store_id=scope.store_id)
    totals = dashboard.coupon_totals(start=start, end=end, store_id=scope.store_id)
    per_store = dashboard.redemptions_per_store(start=start, end=end, store_id=scope.store_id)
    labels = [_day_label(row.date) for row in per_day]
    orders = dashboard.flash_orders_by_status(start=start, end=end)
    sellouts = dashboard.deal_sellout_times(start=start, end=end)
    sold_out = [deal for deal in sellouts if deal.sold_out_after is not None]
    notifications = dashboard.notifications_per_day(start=start, end=end)
    status_labels = dict(FlashOrderStatus.choices)

    charts = {
        "coupons_per_day": line_chart(
            labels=labels,
            series=[
                Series(_("Claimed"), [row.claimed for row in per_day], "#1f5fbf"),
                Series(_("Redeemed"), [row.redeemed for row in per_day], "#0b8f4d"),
            ],
            title=_("Coupons claimed and redeemed per day"),
        ),
        "redemptions_per_store": horizontal_bar_chart(
            labels=[f"{row.code} {row.name}" for row in per_store],
            values=[row.count for row in per_store],
            title=_("Redemptions per store"),
        )
        if per_store
        else None,
        "orders_by_status": horizontal_bar_chart(
            labels=[str(status_labels[status]) for status in orders],
            values=list(orders.values()),
            title=_("Flash-deal orders by state"),
            color="#ff7a1a",
        )
        if any(orders.values())
        else None,
        "sellout_times": horizontal_bar_chart(
            labels=[deal.title for deal in sold_out],
            values=[deal.sold_out_after.total_seconds() for deal in sold_out],
            title=_("Time to sell out"),
            color="#d7261e",
            value_format=_duration,
        )
        if sold_out
        else None,
        "notifications_per_day": bar_chart(
            labels=labels,
            series=[
                Series(_("Sent"), [row.sent for row in notifications], "#0b8f4d"),
                Series(_("Skipped"), [row.skipped for row in notifications], "#f0a92b"),
                Series(_("Failed"), [row.failed for row in notifications], "#d7261e"),
            ],
            title=_("Notifications sent and skipped per day"),
        ),
    }

    context = {
        **admin.site.each_context(request),
        "title": _("Dashboard"),
        "form": form,
        "scope": scope,
        "start": start,
        "end": end,
        "days": len(per_day),
        "totals": totals,
        "discount_yuan": _yuan(totals.discount_fen),
        "redemption_rate": None
        if totals.redemption_rate is None
        else f"{totals.redemption_rate * 100:.1f}%",
        "per_store": [{"row": row, "discount_yuan": _yuan(row.discount_fen)} for row in per_store],
        "charts": charts,
        "orders_total": sum(orders.values()),
        "sellouts": [
            {
                "deal": deal,
                "sold_out_after": None
                if deal.sold_out_after is None
                else _duration(deal.sold_out_after),
            }
            for deal in sellouts
        ],
        "notification_totals": {
            "sent": sum(row.sent for row in notifications),
            "skipped": sum(row.skipped for row in notifications),
            "failed": sum(row.failed for row in notifications),
        },
    }
    return render(request, "admin/dashboard.html", context)
