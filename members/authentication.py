"""Shopper authentication: a signed access token, checked without a database query.

The token carries the member's id. Views that need the member's row load it themselves; hot
paths (grab, claim) need only the id.
"""

from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import permissions
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken
from rest_framework_simplejwt.settings import api_settings


@dataclass(frozen=True)
class AuthenticatedMember:
    """The shopper behind a valid access token: ``request.user`` on shopper endpoints."""

    id: int
    is_authenticated = True
    is_member = True


class MemberJWTAuthentication(JWTAuthentication):
    www_authenticate_realm = "api"

    def get_user(self, validated_token):
        try:
            member_id = int(validated_token[api_settings.USER_ID_CLAIM])
        except (KeyError, TypeError, ValueError):
            raise InvalidToken(_("Token contained no recognizable member identification")) from None
        return AuthenticatedMember(id=member_id)


class IsMember(permissions.BasePermission):
    """Only shoppers: a cashier's POS token is not accepted here."""

    def has_permission(self, request, view):
        return bool(getattr(request.user, "is_member", False))


class MemberJWTAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "members.authentication.MemberJWTAuthentication"
    name = "memberToken"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
