"""Stores near a point (anyone), and the POS sign-in and identity (cashiers)."""

import math

from django.conf import settings
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import AuthenticationFailed, ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from stores.authentication import PosApiMixin
from stores.selectors import (
    NEARBY_RADIUS_DEFAULT_M,
    NEARBY_RADIUS_MAX_M,
    NEARBY_RESULT_LIMIT,
    staff_get,
    store_list_nearby,
)
from stores.services import pos_session_start


def _number_param(query, name, *, low, high, default=None):
    raw = query.get(name)
    if raw is None or raw == "":
        if default is not None:
            return default, None
        return None, _("This parameter is required.")
    try:
        value = float(raw)
    except ValueError:
        return None, _("A number is required.")
    if not math.isfinite(value) or not low <= value <= high:
        return None, _("Must be between %(low)s and %(high)s.") % {"low": low, "high": high}
    return value, None


def _client_ip(request) -> str:
    header = settings.TRUSTED_CLIENT_IP_HEADER
    if header:
        # The proxy appends the address it saw last; earlier entries can be forged by clients.
        forwarded = request.META.get(f"HTTP_{header.upper().replace('-', '_')}", "")
        if forwarded:
            return forwarded.rsplit(",", 1)[-1].strip()
    return request.META.get("REMOTE_ADDR", "")


class StoreListNearbyApi(APIView):
    """Active stores near a point, nearest first, with the distance in metres.

    A hot, public endpoint: parameters are parsed by hand and the answer is built from plain
    dicts (the serializers below only document it).
    """

    authentication_classes = ()
    permission_classes = (AllowAny,)

    class OutputSerializer(serializers.Serializer):
        code = serializers.CharField()
        name = serializers.CharField()
        address = serializers.CharField()
        city = serializers.CharField()
        latitude = serializers.FloatField()
        longitude = serializers.FloatField()
        opening_hours = serializers.CharField()
        phone = serializers.CharField()
        distance_m = serializers.IntegerField(help_text="Great-circle distance in metres.")

        class Meta:
            ref_name = "StoreNearby"

    @extend_schema(
        operation_id="stores_nearby",
        parameters=[
            OpenApiParameter("lat", float, required=True, description="Latitude, -90 to 90."),
            OpenApiParameter("lng", float, required=True, description="Longitude, -180 to 180."),
            OpenApiParameter(
                "radius_m",
                float,
                required=False,
                description=(
                    f"Search radius in metres, default {NEARBY_RADIUS_DEFAULT_M}, "
                    f"at most {NEARBY_RADIUS_MAX_M}."
                ),
            ),
        ],
        responses=OutputSerializer(many=True),
        description=(
            f"Active stores within the radius, nearest first (ties by store code), "
            f"at most {NEARBY_RESULT_LIMIT}; not paginated."
        ),
    )
    def get(self, request):
        query = request.query_params
        lat, lat_error = _number_param(query, "lat", low=-90, high=90)
        lng, lng_error = _number_param(query, "lng", low=-180, high=180)
        radius_m, radius_error = _number_param(
            query, "radius_m", low=1, high=NEARBY_RADIUS_MAX_M, default=NEARBY_RADIUS_DEFAULT_M
        )
        errors = {
            name: [message]
            for name, message in (
                ("lat", lat_error),
                ("lng", lng_error),
                ("radius_m", radius_error),
            )
            if message
        }
        if errors:
            raise ValidationError(errors)
        return Response(store_list_nearby(lat=lat, lng=lng, radius_m=radius_m))


class StoreSummarySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    code = serializers.CharField()
    name = serializers.CharField()

    class Meta:
        ref_name = "StoreSummary"


class PosLoginApi(APIView):
    """A cashier or store manager signs in at a till and gets a token for one shift."""

    authentication_classes = ()
    permission_classes = (AllowAny,)

    class InputSerializer(serializers.Serializer):
        username = serializers.CharField(max_length=150, trim_whitespace=False)
        password = serializers.CharField(max_length=128, trim_whitespace=False)

        class Meta:
            ref_name = "PosLoginInput"

    class OutputSerializer(serializers.Serializer):
        token = serializers.CharField()
        store = StoreSummarySerializer()
        role = serializers.CharField()
        expires_at = serializers.DateTimeField()

        class Meta:
            ref_name = "PosLoginOutput"

    @extend_schema(request=InputSerializer, responses={200: OutputSerializer})
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        session = pos_session_start(
            username=serializer.validated_data["username"],
            password=serializer.validated_data["password"],
            client_ip=_client_ip(request),
        )
        return Response(
            self.OutputSerializer(
                {
                    "token": session.token,
                    "store": session.store,
                    "role": session.role,
                    "expires_at": session.expires_at,
                }
            ).data
        )


class PosMeApi(PosApiMixin, APIView):
    """The signed-in cashier or manager, their role and store (for the cashier page)."""

    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        username = serializers.CharField()
        full_name = serializers.CharField()
        role = serializers.CharField()
        store = StoreSummarySerializer()

        class Meta:
            ref_name = "PosMe"

    @extend_schema(responses={200: OutputSerializer})
    def get(self, request):
        staff = staff_get(user_id=request.user.id)
        if staff is None or staff.store is None or staff.store.pk != request.user.store_id:
            raise AuthenticationFailed(_("This account can no longer use the till; sign in again."))
        return Response(self.OutputSerializer(staff).data)
