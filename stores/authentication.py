"""Cashier (POS) authentication: a signed shift token, checked without a database query.

``POST /api/pos/auth/login`` issues a ``PosToken`` valid for one shift. It carries the staff
user's id, role and store, so every ``/api/pos/`` request knows which store it acts for without
a query. A shopper's token is refused here, and a POS token is refused on shopper endpoints.
"""

from dataclasses import dataclass

from django.conf import settings
from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import permissions
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError
from rest_framework_simplejwt.tokens import Token

from stores.models import StaffRole


class PosToken(Token):
    token_type = "pos"  # noqa: S105 (a token kind, not a secret)
    lifetime = settings.POS_TOKEN_LIFETIME


@dataclass(frozen=True)
class AuthenticatedStaff:
    """The cashier or manager behind a POS token: ``request.user`` on POS endpoints."""

    id: int
    store_id: int | None
    role: str
    is_authenticated = True
    is_member = False
    is_staff_token = True


def pos_token_for(*, user_id: int, store_id: int | None, role: str) -> PosToken:
    token = PosToken()
    token["staff_user_id"] = user_id
    token["store_id"] = store_id
    token["role"] = role
    return token


class PosTokenAuthentication(JWTAuthentication):
    www_authenticate_realm = "pos"

    def get_validated_token(self, raw_token):
        try:
            return PosToken(raw_token)
        except TokenError as error:
            raise InvalidToken(_("This POS token is not valid; sign in again.")) from error

    def get_user(self, validated_token):
        try:
            return AuthenticatedStaff(
                id=int(validated_token["staff_user_id"]),
                store_id=validated_token["store_id"],
                role=validated_token["role"],
            )
        except (KeyError, TypeError, ValueError):
            raise InvalidToken(_("This POS token is not valid; sign in again.")) from None


class IsStoreStaff(permissions.BasePermission):
    """A cashier or store manager signed in at a till, acting for their own store."""

    def has_permission(self, request, view):
        user = request.user
        return bool(
            getattr(user, "is_staff_token", False)
            and user.store_id is not None
            and user.role in (StaffRole.CASHIER, StaffRole.STORE_MANAGER)
        )


class PosTokenAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "stores.authentication.PosTokenAuthentication"
    name = "posToken"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}


class PosApiMixin:
    """Mix into every /api/pos/ view: the POS token and staff of a store, nothing else."""

    authentication_classes = (PosTokenAuthentication,)
    permission_classes = (IsStoreStaff,)
