"""Shopper API: where the member is, for the "near store" tags."""

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from members.services.location import member_location_clear, member_location_record


class MemberLocationRecordApi(APIView):
    """Record where the member is.

    The mini-program calls this only after the member allowed location access
    (``wx.authorize`` scope ``scope.userLocation``): the call is the consent. The position is
    rounded to 3 decimals (about 100 m) before it is stored. ``DELETE`` withdraws the consent
    and forgets the position.
    """

    class InputSerializer(serializers.Serializer):
        lat = serializers.FloatField(min_value=-90, max_value=90)
        lng = serializers.FloatField(min_value=-180, max_value=180)

    class OutputSerializer(serializers.Serializer):
        lat = serializers.FloatField()
        lng = serializers.FloatField()
        updated_at = serializers.DateTimeField()

    @extend_schema(request=InputSerializer, responses={200: OutputSerializer})
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        now = timezone.now()
        lat, lng = member_location_record(
            member_id=request.user.id, now=now, **serializer.validated_data
        )
        return Response(self.OutputSerializer({"lat": lat, "lng": lng, "updated_at": now}).data)

    @extend_schema(request=None, responses={204: None})
    def delete(self, request):
        member_location_clear(member_id=request.user.id)
        return Response(status=status.HTTP_204_NO_CONTENT)
