"""Admin for coupon campaigns, coupons and redemptions.

Marketers create and edit campaigns and watch their live figures; store managers see the
figures and redemptions of their own store only; cashiers have no business here. Every write
goes through ``coupons.services``; the stock counters are never saved from a loaded form.
"""

import csv

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from coupons.exceptions import CampaignStockBelowClaimedError
from coupons.models import Audience, Campaign, CampaignKind, Coupon, CouponStatus, Redemption
from coupons.selectors.coupons import (
    COUPON_EXPORT_HEADER,
    campaign_annotate_figures,
    campaign_redemption_rate,
    campaign_store_breakdown,
    coupon_export_rows,
)
from coupons.services.coupons import (
    campaign_create,
    campaign_pause,
    campaign_resume,
    campaign_stock_add,
    campaign_update,
)
from stores.models import StaffRole
from stores.selectors import staff_store_id_for_scoping


def _staff_profile(request):
    try:
        return request.user.staff_profile
    except (AttributeError, ObjectDoesNotExist):
        return None


def staff_store_id(request) -> int | None:
    """The store a store manager is limited to; ``None`` for marketers and superusers."""
    return staff_store_id_for_scoping(request.user)


def _is_cashier(request) -> bool:
    profile = _staff_profile(request)
    return (
        not request.user.is_superuser and profile is not None and profile.role == StaffRole.CASHIER
    )


def _is_store_manager(request) -> bool:
    profile = _staff_profile(request)
    return (
        not request.user.is_superuser
        and profile is not None
        and profile.role == StaffRole.STORE_MANAGER
    )


def _yuan(fen) -> str:
    fen = fen or 0
    return f"{fen // 100}.{fen % 100:02d}"


class StaffScopedAdmin(admin.ModelAdmin):
    """Cashiers never reach these pages; store managers only look."""

    def has_module_permission(self, request):
        return not _is_cashier(request) and super().has_module_permission(request)

    def has_view_permission(self, request, obj=None):
        return not _is_cashier(request) and super().has_view_permission(request, obj)

    def has_add_permission(self, request):
        return not _is_store_manager(request) and super().has_add_permission(request)

    def has_change_permission(self, request, obj=None):
        return not _is_store_manager(request) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False


# --- campaigns ---------------------------------------------------------------------------------


class CampaignForm(forms.ModelForm):
    class Meta:
        model = Campaign
        # remaining_stock is never edited: claims move it, and so does a change of total_stock.
        fields = (
            "name",
            "description",
            "kind",
            "amount_off_fen",
            "percent_off",
            "max_discount_fen",
            "min_spend_fen",
            "gift_description",
            "claimable_online",
            "claim_starts_at",
            "claim_ends_at",
            "valid_from",
            "valid_until",
            "valid_days",
            "all_stores",
            "stores",
            "total_stock",
            "per_member_limit",
            "audience",
            "new_member_days",
            "audience_tag",
            "is_paused",
        )

    def clean(self):
        data = super().clean()
        errors = {}
        kind = data.get("kind")
        if kind == CampaignKind.AMOUNT_OFF and not data.get("amount_off_fen"):
            errors["amount_off_fen"] = _("An amount-off coupon needs the amount.")
        if kind == CampaignKind.PERCENT_OFF:
            percent = data.get("percent_off")
            if percent is None or not 1 <= percent <= 99:
                errors["percent_off"] = _("The percentage must be between 1 and 99.")
        if kind == CampaignKind.GIFT and not data.get("gift_description"):
            errors["gift_description"] = _("A gift coupon needs the gift.")

        starts, ends = data.get("claim_starts_at"), data.get("claim_ends_at")
        if starts and ends and ends <= starts:
            errors["claim_ends_at"] = _("The claim window must end after it starts.")

        valid_days = data.get("valid_days")
        valid_from, valid_until = data.get("valid_from"), data.get("valid_until")
        fixed = valid_from is not None or valid_until is not None
        if valid_days is not None and fixed:
            errors["valid_days"] = _(
                "Choose one validity: a fixed window or a number of days, not both."
            )
        elif valid_days is None and not fixed:
            errors["valid_days"] = _(
                "Choose a validity: a fixed window (from, until) or a number of days."
            )
        elif fixed:
            if valid_from is None or valid_until is None:
                errors["valid_until"] = _("A fixed validity needs both its start and its end.")
            elif valid_until <= valid_from:
                errors["valid_until"] = _("The validity must end after it starts.")
            elif starts and valid_until <= starts:
                errors["valid_until"] = _("The validity must end after the claim window starts.")

        if not data.get("all_stores") and not data.get("stores"):
            errors["stores"] = _("Choose the stores, or accept the coupon at all stores.")
        if data.get("audience") == Audience.TAG and not data.get("audience_tag"):
            errors["audience_tag"] = _("Choose the tag of the members this coupon is for.")

        total = data.get("total_stock")
        if total is not None and self.instance.pk:
            claimed = (
                Campaign.objects.filter(pk=self.instance.pk)
                .values_list("total_stock", "remaining_stock")
                .get()
            )
            claimed = claimed[0] - claimed[1]
            if total < claimed:
                errors["total_stock"] = _(
                    "The total stock cannot be less than the %(claimed)s already claimed."
                ) % {"claimed": claimed}
        if errors:
            raise ValidationError(errors)
        return data


class AddStockForm(forms.Form):
    quantity = forms.IntegerField(label=_("coupons to add"), min_value=1, max_value=10_000_000)


@admin.register(Campaign)
class CampaignAdmin(StaffScopedAdmin):
    form = CampaignForm
    list_display = (
        "name",
        "kind",
        "claim_starts_at",
        "claim_ends_at",
        "is_paused",
        "total_stock",
        "claimed_figure",
        "remaining_stock",
        "redeemed_figure",
        "voided_figure",
        "redemption_rate",
        "discount_figure",
    )
    list_filter = ("kind", "is_paused", "claimable_online", "audience")
    search_fields = ("name",)
    filter_horizontal = ("stores",)
    autocomplete_fields = ()
    readonly_fields = ("remaining_stock", "figures", "store_breakdown", "export_link")
    actions = ("pause", "resume", "add_stock", "export_coupons")
    fieldsets = (
        (None, {"fields": ("name", "description", "kind", "is_paused", "claimable_online")}),
        (
            _("What it gives"),
            {
                "fields": (
                    "amount_off_fen",
                    "percent_off",
                    "max_discount_fen",
                    "min_spend_fen",
                    "gift_description",
                )
            },
        ),
        (_("Claim window"), {"fields": ("claim_starts_at", "claim_ends_at")}),
        (
            _("Validity: a fixed window or days after the claim"),
            {"fields": ("valid_from", "valid_until", "valid_days")},
        ),
        (_("Where"), {"fields": ("all_stores", "stores")}),
        (
            _("Stock and audience"),
            {
                "fields": (
                    "total_stock",
                    "remaining_stock",
                    "per_member_limit",
                    "audience",
                    "new_member_days",
                    "audience_tag",
                )
            },
        ),
        (_("Figures"), {"fields": ("figures", "store_breakdown", "export_link")}),
    )

    def get_queryset(self, request):
        return campaign_annotate_figures(
            super().get_queryset(request), store_id=staff_store_id(request)
        )

    @admin.display(description=_("claimed"), ordering="claimed")
    def claimed_figure(self, campaign):
        return campaign.claimed

    @admin.display(description=_("redeemed"), ordering="redeemed")
    def redeemed_figure(self, campaign):
        return campaign.redeemed

    @admin.display(description=_("voided"), ordering="voided")
    def voided_figure(self, campaign):
        return campaign.voided

    @admin.display(description=_("redemption rate"))
    def redemption_rate(self, campaign):
        rate = campaign_redemption_rate(claimed=campaign.claimed, redeemed=campaign.redeemed)
        return "-" if rate is None else f"{rate:.1%}"

    @admin.display(description=_("discount given (yuan)"), ordering="discount_fen")
    def discount_figure(self, campaign):
        return _yuan(campaign.discount_fen)

    @admin.display(description=_("figures"))
    def figures(self, campaign):
        if not campaign.pk:
            return "-"
        return format_html(
            "{}: {} · {}: {} · {}: {} · {}: {} · {}: {} · {}: {}",
            gettext("claimed"),
            campaign.claimed,
            gettext("remaining"),
            campaign.remaining_stock,
            gettext("redeemed"),
            campaign.redeemed,
            gettext("voided"),
            campaign.voided,
            gettext("redemption rate"),
            self.redemption_rate(campaign),
            gettext("discount given (yuan)"),
            _yuan(campaign.discount_fen),
        )

    @admin.display(description=_("redemptions per store"))
    def store_breakdown(self, campaign):
        if not campaign.pk:
            return "-"
        rows = campaign_store_breakdown(
            campaign_id=campaign.pk, store_id=getattr(campaign, "figures_store_id", None)
        )
        if not rows:
            return gettext("No redemptions yet.")
        header = format_html(
            "<tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>",
            gettext("store"),
            gettext("redeemed"),
            gettext("voided"),
            gettext("discount given (yuan)"),
        )
        body = format_html_join(
            "",
            "<tr><td>{} {}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    row["store_code"],
                    row["store_name"],
                    row["redeemed"],
                    row["voided"],
                    _yuan(row["discount_fen"]),
                )
                for row in rows
            ),
        )
        return format_html("<table>{}{}</table>", header, body)

    @admin.display(description=_("export"))
    def export_link(self, campaign):
        if not campaign.pk or getattr(campaign, "figures_store_id", None) is not None:
            return "-"
        url = reverse("admin:coupons_campaign_export", args=[campaign.pk])
        return format_html('<a href="{}">{}</a>', url, gettext("Coupons and redemptions (CSV)"))

    def get_object(self, request, object_id, from_field=None):
        campaign = super().get_object(request, object_id, from_field)
        if campaign is not None:
            # The readonly figure fields get no request: the object says whose figures to show.
            campaign.figures_store_id = staff_store_id(request)
        return campaign

    def save_model(self, request, obj, form, change):
        if not change:
            campaign_create(campaign=obj)
            return
        total_stock = (
            form.cleaned_data["total_stock"] if "total_stock" in form.changed_data else None
        )
        try:
            campaign_update(campaign=obj, fields=form.changed_data, total_stock=total_stock)
        except CampaignStockBelowClaimedError as error:
            # Claims arrived between the form's check and the save: keep the other edits.
            messages.error(request, error.detail)

    # --- actions ---------------------------------------------------------------------------

    @admin.action(description=_("Pause the selected campaigns"), permissions=["change"])
    def pause(self, request, queryset):
        changed = campaign_pause(campaign_ids=queryset.values_list("pk", flat=True))
        self.message_user(request, gettext("%(n)d campaign(s) paused.") % {"n": changed})

    @admin.action(description=_("Resume the selected campaigns"), permissions=["change"])
    def resume(self, request, queryset):
        changed = campaign_resume(campaign_ids=queryset.values_list("pk", flat=True))
        self.message_user(request, gettext("%(n)d campaign(s) resumed.") % {"n": changed})

    @admin.action(description=_("Add stock to the selected campaigns"), permissions=["change"])
    def add_stock(self, request, queryset):
        if "apply" in request.POST:
            form = AddStockForm(request.POST)
            if form.is_valid():
                quantity = form.cleaned_data["quantity"]
                campaign_ids = list(queryset.values_list("pk", flat=True))
                for campaign_id in campaign_ids:
                    campaign_stock_add(campaign_id=campaign_id, quantity=quantity)
                self.message_user(
                    request,
                    gettext("Added %(quantity)d coupons to %(n)d campaign(s).")
                    % {"quantity": quantity, "n": len(campaign_ids)},
                )
                return None
        else:
            form = AddStockForm()
        return TemplateResponse(
            request,
            "admin/coupons/campaign/add_stock.html",
            {
                **self.admin_site.each_context(request),
                "title": gettext("Add stock"),
                "opts": self.model._meta,
                "form": form,
                "campaigns": queryset,
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            },
        )

    @admin.action(description=_("Export coupons and redemptions (CSV)"), permissions=["change"])
    def export_coupons(self, request, queryset):
        return coupon_export_response(
            campaign_ids=list(queryset.values_list("pk", flat=True)), filename="coupons.csv"
        )

    def get_urls(self):
        return [
            path(
                "<int:campaign_id>/export.csv",
                self.admin_site.admin_view(self.export_view),
                name="coupons_campaign_export",
            ),
            *super().get_urls(),
        ]

    def export_view(self, request, campaign_id):
        if not self.has_change_permission(request):
            raise Http404
        campaign = get_object_or_404(Campaign, pk=campaign_id)
        return coupon_export_response(
            campaign_ids=[campaign.pk], filename=f"campaign-{campaign.pk}-coupons.csv"
        )


class _Echo:
    """A file-like object whose ``write`` hands back the line: ``csv.writer`` without a buffer."""

    def write(self, value):
        return value


def coupon_export_response(*, campaign_ids: list[int], filename: str) -> StreamingHttpResponse:
    """Stream the coupons of ``campaign_ids`` as CSV, one line at a time."""
    writer = csv.writer(_Echo())
    now = timezone.now()

    def lines():
        yield "\ufeff"  # lets spreadsheet programs read the file as UTF-8
        yield writer.writerow(COUPON_EXPORT_HEADER)
        for row in coupon_export_rows(campaign_ids=campaign_ids, now=now):
            yield writer.writerow(row)

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


# --- coupons and redemptions (read-only) -------------------------------------------------------


class ReadOnlyAdmin(StaffScopedAdmin):
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Coupon)
class CouponAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "campaign",
        "member",
        "source",
        "shown_status",
        "valid_until",
        "claimed_at",
        "redeemed_at",
    )
    list_filter = ("status", "source", "campaign")
    list_select_related = ("campaign", "member")
    search_fields = ("=member__member_no", "=id")
    raw_id_fields = ("campaign", "member")

    def has_module_permission(self, request):
        # Coupons belong to members, not stores: store managers look at redemptions instead.
        return not _is_store_manager(request) and super().has_module_permission(request)

    def has_view_permission(self, request, obj=None):
        return not _is_store_manager(request) and super().has_view_permission(request, obj)

    @admin.display(description=_("status"), ordering="status")
    def shown_status(self, coupon):
        return CouponStatus(coupon.display_status(timezone.now())).label


class VoidedFilter(admin.SimpleListFilter):
    title = _("voided")
    parameter_name = "voided"

    def lookups(self, request, model_admin):
        return (("yes", _("Voided")), ("no", _("Live")))

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(voided_at__isnull=False)
        if self.value() == "no":
            return queryset.filter(voided_at__isnull=True)
        return queryset


@admin.register(Redemption)
class RedemptionAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "redeemed_at",
        "store",
        "campaign",
        "coupon_id",
        "cashier",
        "order_amount_fen",
        "discount_fen",
        "receipt_no",
        "voided_at",
    )
    list_filter = (VoidedFilter, "store", "campaign")
    list_select_related = ("store", "campaign", "cashier")
    search_fields = ("=receipt_no", "=coupon__id")
    date_hierarchy = "redeemed_at"
    raw_id_fields = ("coupon", "campaign", "store", "cashier", "voided_by")

    def get_queryset(self, request):
        redemptions = super().get_queryset(request)
        store_id = staff_store_id(request)
        if store_id is not None:
            redemptions = redemptions.filter(store_id=store_id)
        return redemptions
