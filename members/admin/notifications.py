"""Admin for the notification queue and subscription grants. Writes go through services."""

import datetime
import json

from django.contrib import admin, messages
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from members.models import Notification, NotificationState, SubscriptionGrant
from members.selectors.notifications import notification_figures_by_template
from members.services.notifications import notification_retry_failed

FIGURES_DAYS = 7


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "member_no",
        "event",
        "template_id",
        "state",
        "attempts",
        "created_at",
        "sent_at",
        "short_error",
    )
    list_filter = ("state", "event", "template_id", "created_at")
    search_fields = ("=member__member_no",)
    search_help_text = _("Member number")
    list_select_related = ("member",)
    date_hierarchy = "created_at"
    ordering = ("-pk",)
    show_full_result_count = False
    actions = ("retry_failed",)
    fields = (
        "member",
        "event",
        "template_id",
        "state",
        "attempts",
        "last_error",
        "payload_pretty",
        "dedupe_key",
        "created_at",
        "next_attempt_at",
        "claimed_at",
        "sent_at",
    )
    readonly_fields = fields
    change_list_template = "admin/members/notification/change_list.html"

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("member number"), ordering="member__member_no")
    def member_no(self, obj):
        return obj.member.member_no

    @admin.display(description=_("last error"))
    def short_error(self, obj):
        return obj.last_error[:80]

    @admin.display(description=_("payload"))
    def payload_pretty(self, obj):
        return format_html(
            "<pre>{}</pre>", json.dumps(obj.payload, ensure_ascii=False, indent=2, sort_keys=True)
        )

    @admin.action(description=_("Send the selected failed notifications again"))
    def retry_failed(self, request, queryset):
        ids = queryset.filter(state=NotificationState.FAILED).values_list("pk", flat=True)
        count = notification_retry_failed(notification_ids=list(ids))
        self.message_user(
            request,
            ngettext(
                "%(count)d failed notification will be sent again.",
                "%(count)d failed notifications will be sent again.",
                count,
            )
            % {"count": count},
            messages.SUCCESS if count else messages.WARNING,
        )

    def changelist_view(self, request, extra_context=None):
        since = timezone.now() - datetime.timedelta(days=FIGURES_DAYS)
        extra_context = {
            **(extra_context or {}),
            "figures": notification_figures_by_template(since=since),
            "figures_days": FIGURES_DAYS,
        }
        return super().changelist_view(request, extra_context=extra_context)


@admin.register(SubscriptionGrant)
class SubscriptionGrantAdmin(admin.ModelAdmin):
    list_display = ("member", "template_id", "remaining", "accepted_total", "updated_at")
    list_filter = ("template_id",)
    search_fields = ("=member__member_no",)
    search_help_text = _("Member number")
    list_select_related = ("member",)
    readonly_fields = ("member", "template_id", "remaining", "accepted_total", "updated_at")
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
