"""Admin for legacy cards and their imports, tags (rules, bulk assignment) and targeted issues.

Every write goes through ``members.services``; the pages show the figures that matter (import
progress with rate and time left, rule results, issue progress).
"""

import datetime

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from backend.exceptions import ApplicationError
from members.models import (
    ImportStatus,
    LegacyCard,
    LegacyImport,
    MemberNumberAlias,
    Tag,
    TagAssignment,
    TagRule,
    TargetedIssue,
    TargetedIssueStatus,
    mask_phone,
)
from members.services.legacy import legacy_import_create
from members.services.tags import tag_assign_from_csv, tag_rule_evaluate
from members.services.targeted_issues import targeted_issue_create

# While a job runs, its page reloads itself to show progress.
_AUTO_RELOAD = mark_safe("<script>setTimeout(function () { location.reload(); }, 2000);</script>")


def _copy_into(obj, created):
    """Let the admin's add view continue with the row a service created."""
    obj.__dict__.update({k: v for k, v in created.__dict__.items() if k != "_state"})
    obj._state.adding = False
    obj._state.db = created._state.db


class _JobAdmin(admin.ModelAdmin):
    """A job started from the add form (an import, a bulk tag assignment, a targeted issue).

    The add page asks for ``start_fields``; ``save_model`` hands them to the service and
    ``_copy_into`` the row it created. From then on the job's own page shows
    ``detail_fields``, read-only, and is where its progress appears.
    """

    start_fields: list[str] = []
    detail_fields: list[str] = []

    def get_fields(self, request, obj=None):
        return self.start_fields if obj is None else self.detail_fields

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.detail_fields

    def has_change_permission(self, request, obj=None):
        return False if obj is not None else super().has_change_permission(request, obj)

    def response_add(self, request, obj, post_url_continue=None):
        opts = obj._meta
        return HttpResponseRedirect(
            reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
        )


def _duration(seconds):
    if seconds is None:
        return "–"
    return str(datetime.timedelta(seconds=int(seconds)))


# --- Legacy imports ---------------------------------------------------------------------------


class LegacyImportForm(forms.ModelForm):
    file = forms.FileField(
        label=_("CSV file"),
        help_text=_(
            "Header card_no,phone,name,gender,birth_date,level,points; UTF-8 (with or without "
            "BOM) or GB18030. Rows are upserted by card number; bad rows go to a rejects file."
        ),
    )

    class Meta:
        model = LegacyImport
        fields = ["file"]


@admin.register(LegacyImport)
class LegacyImportAdmin(_JobAdmin):
    list_display = [
        "__str__",
        "status",
        "rows_read",
        "imported",
        "updated",
        "unchanged",
        "rejected",
        "rate",
        "created_at",
        "finished_at",
    ]
    list_filter = ["status"]
    start_fields = ["file"]
    detail_fields = [
        "original_name",
        "status",
        "progress",
        "rows_read",
        "imported",
        "updated",
        "unchanged",
        "rejected",
        "rate",
        "time_left",
        "rejects_download",
        "encoding",
        "file_size",
        "error",
        "created_by",
        "created_at",
        "started_at",
        "finished_at",
    ]

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = LegacyImportForm
        return super().get_form(request, obj, **kwargs)

    def save_model(self, request, obj, form, change):
        # With Celery eager (the embedded default) the import runs inside this request once
        # the admin's transaction commits; with a broker a worker picks it up.
        created = legacy_import_create(
            uploaded_file=form.cleaned_data["file"], created_by=request.user
        )
        _copy_into(obj, created)

    @admin.display(description=_("rows/s"))
    def rate(self, obj):
        rate = obj.rows_per_second
        return "–" if rate is None else f"{rate:,.0f}"

    @admin.display(description=_("time left"))
    def time_left(self, obj):
        return _duration(obj.seconds_left)

    @admin.display(description=_("progress"))
    def progress(self, obj):
        bar = format_html(
            '<progress max="100" value="{}" style="width: 24em"></progress> {}%',
            obj.percent_done,
            obj.percent_done,
        )
        if obj.status in (ImportStatus.PENDING, ImportStatus.RUNNING):
            return bar + _AUTO_RELOAD
        return bar

    @admin.display(description=_("rejected rows"))
    def rejects_download(self, obj):
        if not obj.rejects_file:
            return "–"
        url = reverse("admin:members_legacyimport_rejects", args=[obj.pk])
        return format_html('<a href="{}">{}</a> ({})', url, gettext("Download CSV"), obj.rejected)

    def get_urls(self):
        return [
            path(
                "<int:pk>/rejects/",
                self.admin_site.admin_view(self.rejects_view),
                name="members_legacyimport_rejects",
            ),
            *super().get_urls(),
        ]

    def rejects_view(self, request, pk):
        if not self.has_view_permission(request):
            raise PermissionDenied
        job = LegacyImport.objects.filter(pk=pk).first()
        if job is None or not job.rejects_file:
            raise Http404
        return FileResponse(
            job.rejects_file.open("rb"),
            as_attachment=True,
            filename=f"rejects-{job.pk}-{job.original_name or 'import.csv'}",
            content_type="text/csv",
        )


# --- Legacy cards -----------------------------------------------------------------------------


@admin.register(LegacyCard)
class LegacyCardAdmin(admin.ModelAdmin):
    list_display = [
        "card_no",
        "masked_phone",
        "name",
        "level",
        "points",
        "claimed_by",
        "claimed_at",
    ]
    list_select_related = ["claimed_by"]
    # Millions of rows: exact matches use the unique indexes; no full count on every page.
    search_fields = ["=card_no", "=phone"]
    show_full_result_count = False
    readonly_fields = [
        "card_no",
        "phone",
        "name",
        "gender",
        "birth_date",
        "level",
        "points",
        "imported_at",
        "updated_at",
        "claimed_by",
        "claimed_at",
    ]

    @admin.display(description=_("phone"))
    def masked_phone(self, obj):
        return mask_phone(obj.phone) or "–"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(MemberNumberAlias)
class MemberNumberAliasAdmin(admin.ModelAdmin):
    list_display = ["number", "member", "created_at"]
    search_fields = ["=number", "=member__member_no"]
    raw_id_fields = ["member"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


# --- Tags -------------------------------------------------------------------------------------


class TagAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "description", "created_at"]
    search_fields = ["slug", "name"]


if not admin.site.is_registered(Tag):
    admin.site.register(Tag, TagAdmin)


@admin.register(TagRule)
class TagRuleAdmin(admin.ModelAdmin):
    list_display = [
        "tag",
        "kind",
        "days",
        "store",
        "radius_m",
        "is_active",
        "last_evaluated_at",
        "last_added",
        "last_removed",
    ]
    list_filter = ["kind", "is_active"]
    readonly_fields = ["last_evaluated_at", "last_added", "last_removed"]
    actions = ["evaluate_now"]

    @admin.action(description=_("Evaluate the selected rules now"))
    def evaluate_now(self, request, queryset):
        for rule in queryset.order_by("pk"):
            added, removed = tag_rule_evaluate(rule=rule)
            self.message_user(
                request,
                gettext("%(tag)s: %(added)d added, %(removed)d removed")
                % {"tag": rule.tag, "added": added, "removed": removed},
                messages.SUCCESS,
            )


class TagAssignmentForm(forms.ModelForm):
    class Meta:
        model = TagAssignment
        fields = ["tag", "action", "numbers", "numbers_file"]
        help_texts = {
            "numbers": _("Member numbers or card numbers, separated by lines, commas or spaces."),
            "numbers_file": _("A CSV whose first column holds member or card numbers."),
        }

    def clean(self):
        cleaned = super().clean()
        if not cleaned.get("numbers", "").strip() and not cleaned.get("numbers_file"):
            raise forms.ValidationError(gettext("Type some numbers or choose a CSV file."))
        return cleaned


@admin.register(TagAssignment)
class TagAssignmentAdmin(_JobAdmin):
    form = TagAssignmentForm
    list_display = [
        "__str__",
        "tag",
        "action",
        "numbers_read",
        "members_matched",
        "changed",
        "not_found",
        "created_by",
    ]
    start_fields = ["tag", "action", "numbers", "numbers_file"]
    detail_fields = [
        "tag",
        "action",
        "numbers_read",
        "members_matched",
        "changed",
        "not_found",
        "not_found_sample",
        "numbers_file",
        "created_by",
        "created_at",
    ]

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        created = tag_assign_from_csv(
            tag=data["tag"],
            action=data["action"],
            numbers=data.get("numbers", ""),
            numbers_file=data.get("numbers_file") or None,
            created_by=request.user,
        )
        _copy_into(obj, created)


# --- Targeted issues --------------------------------------------------------------------------


class TargetedIssueForm(forms.ModelForm):
    class Meta:
        model = TargetedIssue
        fields = ["campaign", "tag"]

    def clean(self):
        cleaned = super().clean()
        campaign = cleaned.get("campaign")
        if campaign is not None and campaign.is_paused:
            raise forms.ValidationError(gettext("The campaign is paused."))
        return cleaned


@admin.register(TargetedIssue)
class TargetedIssueAdmin(_JobAdmin):
    form = TargetedIssueForm
    list_display = [
        "__str__",
        "status",
        "members_total",
        "members_done",
        "issued",
        "skipped_already_had",
        "skipped_no_stock",
        "created_at",
    ]
    list_filter = ["status"]
    start_fields = ["campaign", "tag"]
    detail_fields = [
        "campaign",
        "tag",
        "status",
        "progress",
        "members_total",
        "members_done",
        "issued",
        "skipped_already_had",
        "skipped_no_stock",
        "stopped_reason",
        "created_by",
        "created_at",
        "started_at",
        "finished_at",
    ]

    def save_model(self, request, obj, form, change):
        try:
            created = targeted_issue_create(
                campaign=form.cleaned_data["campaign"],
                tag=form.cleaned_data["tag"],
                created_by=request.user,
            )
        except ApplicationError as error:
            # The form's clean() catches the usual cases; this is a race with an edit.
            raise PermissionDenied(str(error.detail)) from error
        _copy_into(obj, created)

    @admin.display(description=_("progress"))
    def progress(self, obj):
        percent = int(obj.members_done * 100 / obj.members_total) if obj.members_total else 0
        if obj.status == TargetedIssueStatus.DONE:
            percent = 100
        bar = format_html(
            '<progress max="100" value="{}" style="width: 24em"></progress> {}%', percent, percent
        )
        if obj.status in (TargetedIssueStatus.PENDING, TargetedIssueStatus.RUNNING):
            return bar + _AUTO_RELOAD
        return bar
