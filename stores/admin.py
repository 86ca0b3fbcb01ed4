"""Admin for stores and staff, and the store scoping other areas' admins reuse."""

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.utils.translation import gettext_lazy as _

from stores.models import StaffProfile, Store
from stores.selectors import staff_store_id_for_scoping
from stores.services import staff_groups_sync


class StoreScopedAdminMixin:
    """Confine a ModelAdmin to the signed-in store manager's own store.

    Set ``store_field`` to the lookup from the model to its store: ``"store"`` for a model
    with a ``store`` foreign key, ``"redemptions__store"`` through a relation, ``"pk"`` for
    the Store model itself. Store managers (staff profile role ``store_manager``) then see
    and open only their store's rows, and a ``store`` foreign key in forms offers only their
    store. Superusers, marketers and other staff are not confined. Put the mixin before
    ``admin.ModelAdmin`` in the bases.
    """

    store_field = "store"

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        store_id = staff_store_id_for_scoping(request.user)
        if store_id is None:
            return queryset
        queryset = queryset.filter(**{self.store_field: store_id})
        if "__" in self.store_field:
            # Through a to-many relation one row could match several times.
            queryset = queryset.distinct()
        return queryset

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        store_id = staff_store_id_for_scoping(request.user)
        if store_id is not None and db_field.related_model is Store:
            kwargs["queryset"] = Store.objects.filter(pk=store_id)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(Store)
class StoreAdmin(StoreScopedAdminMixin, admin.ModelAdmin):
    store_field = "pk"
    list_display = ("code", "name", "city", "address", "opening_hours", "is_active")
    list_filter = ("city", "is_active")
    search_fields = ("code", "name", "address")
    ordering = ("code",)
    fieldsets = (
        (None, {"fields": ("code", "name", "is_active")}),
        (_("Where"), {"fields": ("city", "address", ("latitude", "longitude"))}),
        (_("Contact"), {"fields": ("opening_hours", "phone")}),
    )


class StaffProfileInline(admin.StackedInline):
    model = StaffProfile
    can_delete = True
    extra = 0
    max_num = 1
    fields = ("role", "store")
    autocomplete_fields = ("store",)
    verbose_name = _("staff role and store")
    verbose_name_plural = _("staff role and store")


User = get_user_model()

if admin.site.is_registered(User):
    admin.site.unregister(User)


@admin.register(User)
class StaffUserAdmin(UserAdmin):
    """Django's user admin with the staff role and store; saving sets the role's group."""

    inlines = (*UserAdmin.inlines, StaffProfileInline)
    list_display = (
        "username",
        "first_name",
        "last_name",
        "staff_role",
        "staff_store",
        "is_staff",
        "is_active",
    )
    list_filter = (*UserAdmin.list_filter, "staff_profile__role", "staff_profile__store__city")
    list_select_related = ("staff_profile__store",)

    @admin.display(description=_("role"), ordering="staff_profile__role")
    def staff_role(self, user):
        profile = getattr(user, "staff_profile", None)
        return profile.get_role_display() if profile else "-"

    @admin.display(description=_("store"), ordering="staff_profile__store__code")
    def staff_store(self, user):
        profile = getattr(user, "staff_profile", None)
        return profile.store.code if profile and profile.store else "-"

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        staff_groups_sync(user=form.instance)
