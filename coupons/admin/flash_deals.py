"""Django admin for flash deals: deals with live figures, their orders, refunds, reminders.

Writes go through coupons.services.flash_deals; figures are annotated in the list's one query.
"""

import csv

from django.contrib import admin, messages
from django.db import models
from django.http import StreamingHttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from coupons.models import DealReminder, FlashDeal, FlashOrder, FlashRefund
from coupons.selectors import flash_deals as flash_deal_selectors
from coupons.services import flash_deals as flash_deal_services


@admin.register(FlashDeal)
class FlashDealAdmin(admin.ModelAdmin):
    list_display = [
        "title",
        "price_fen",
        "starts_at",
        "ends_at",
        "total_stock",
        "held",
        "paid",
        "cancelled",
        "refunded",
        "remaining_stock",
        "is_paused",
        "orders_link",
    ]
    list_filter = ["is_paused", "requires_phone"]
    search_fields = ["title", "campaign__name"]
    date_hierarchy = "starts_at"
    list_select_related = ["campaign"]
    readonly_fields = ["remaining_stock", "created_at", "updated_at"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    fieldsets = [
        (None, {"fields": ["title", "image_url", "campaign", "price_fen"]}),
        (_("When"), {"fields": ["starts_at", "ends_at", "payment_window", "is_paused"]}),
        (_("Stock and limits"), {"fields": ["total_stock", "remaining_stock", "per_member_limit"]}),
        (_("Who may grab"), {"fields": ["requires_phone", "required_tag"]}),
        (_("Record"), {"fields": ["created_at", "updated_at"]}),
    ]
    actions = ["pause", "resume"]

    def get_queryset(self, request):
        return flash_deal_selectors.deal_list_with_figures()

    @admin.display(description=_("held"), ordering="held_count")
    def held(self, obj):
        return obj.held_count

    @admin.display(description=_("paid"), ordering="paid_count")
    def paid(self, obj):
        return obj.paid_count

    @admin.display(description=_("cancelled"), ordering="cancelled_count")
    def cancelled(self, obj):
        return obj.cancelled_count

    @admin.display(description=_("refunded"), ordering="refunded_count")
    def refunded(self, obj):
        return obj.refunded_count

    @admin.display(description=_("orders"))
    def orders_link(self, obj):
        url = reverse("admin:coupons_flashorder_changelist") + f"?deal__id__exact={obj.pk}"
        return format_html('<a href="{}">{}</a>', url, _("orders"))

    def save_model(self, request, obj, form, change):
        if change:
            data = {name: form.cleaned_data[name] for name in form.changed_data}
            saved = flash_deal_services.deal_update(deal=obj, data=data)
        else:
            fields = dict(form.cleaned_data)
            saved = flash_deal_services.deal_create(
                campaign=fields.pop("campaign"), total_stock=fields.pop("total_stock"), **fields
            )
        obj.pk = saved.pk
        obj.remaining_stock = saved.remaining_stock
        obj.created_at, obj.updated_at = saved.created_at, saved.updated_at
        obj._state.adding = False

    @admin.action(description=_("Pause the selected deals"))
    def pause(self, request, queryset):
        for deal in queryset:
            flash_deal_services.deal_update(deal=deal, data={"is_paused": True})
        messages.success(request, _("Paused."))

    @admin.action(description=_("Resume the selected deals"))
    def resume(self, request, queryset):
        for deal in queryset:
            flash_deal_services.deal_update(deal=deal, data={"is_paused": False})
        messages.success(request, _("Resumed."))


class _Echo:
    """A write-only file whose write returns the line, for streaming csv.writer's output."""

    def write(self, value):
        return value


_ORDER_CSV_COLUMNS = [
    ("order_no", _("order number")),
    ("deal_id", _("deal id")),
    ("deal_title", _("deal")),
    ("member_no", _("member number")),
    ("status", _("status")),
    ("price_fen", _("price (fen)")),
    ("created_at", _("created at")),
    ("expires_at", _("payment due by")),
    ("paid_at", _("paid at")),
    ("cancelled_at", _("cancelled at")),
    ("refunded_at", _("refunded at")),
    ("transaction_id", _("WeChat transaction id")),
    ("coupon_id", _("coupon")),
]


def _order_csv_rows(queryset):
    writer = csv.writer(_Echo())
    yield "\ufeff" + writer.writerow([str(label) for _name, label in _ORDER_CSV_COLUMNS])
    rows = queryset.order_by("pk").values_list(
        "order_no",
        "deal_id",
        "deal__title",
        "member__member_no",
        "status",
        "price_fen",
        "created_at",
        "expires_at",
        "paid_at",
        "cancelled_at",
        "refunded_at",
        "transaction_id",
        "coupon_id",
    )
    for row in rows.iterator(chunk_size=2000):
        yield writer.writerow(
            [
                timezone.localtime(value).isoformat() if hasattr(value, "tzinfo") else value
                for value in row
            ]
        )


class _RecordAdmin(admin.ModelAdmin):
    """Rows written only by the services (orders, refunds): shown whole, never added, edited
    or deleted by hand."""

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(FlashOrder)
class FlashOrderAdmin(_RecordAdmin):
    list_display = [
        "order_no",
        "deal",
        "member",
        "status",
        "price_fen",
        "created_at",
        "expires_at",
        "paid_at",
        "coupon",
    ]
    list_filter = ["status", "deal"]
    search_fields = ["order_no", "member__member_no", "transaction_id"]
    list_select_related = ["deal", "member"]
    date_hierarchy = "created_at"
    show_full_result_count = False
    actions = ["export_csv"]

    @admin.action(description=_("Export the selected orders as CSV"))
    def export_csv(self, request, queryset):
        response = StreamingHttpResponse(
            _order_csv_rows(queryset), content_type="text/csv; charset=utf-8"
        )
        stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
        response["Content-Disposition"] = f'attachment; filename="flash-orders-{stamp}.csv"'
        return response


@admin.register(FlashRefund)
class FlashRefundAdmin(_RecordAdmin):
    list_display = [
        "out_refund_no",
        "order",
        "refund_fee",
        "status",
        "attempts",
        "last_error",
        "created_at",
        "succeeded_at",
    ]
    list_filter = ["status"]
    search_fields = ["out_refund_no", "order__order_no"]
    list_select_related = ["order"]
    actions = ["resend"]

    @admin.action(description=_("Send the selected refunds to WeChat Pay again"))
    def resend(self, request, queryset):
        sent = sum(
            flash_deal_services.flash_refund_send(refund_id=pk)
            for pk in queryset.values_list("pk", flat=True)
        )
        messages.info(request, _("%(sent)d refunds accepted by WeChat Pay.") % {"sent": sent})


@admin.register(DealReminder)
class DealReminderAdmin(admin.ModelAdmin):
    list_display = ["deal", "member", "created_at", "sent_at"]
    list_filter = ["deal"]
    search_fields = ["member__member_no"]
    list_select_related = ["deal", "member"]
    readonly_fields = ["deal", "member", "created_at", "sent_at"]

    def has_add_permission(self, request):
        return False
