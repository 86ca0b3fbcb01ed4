"""Shopper API for subscribe-message grants: which templates exist, and the member's answer."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from members.selectors.notifications import subscription_template_list
from members.services.notifications import subscription_answer_record


class SubscriptionListRecordApi(APIView):
    """``/api/members/me/subscriptions``: ``GET`` lists the templates to pass to
    ``wx.requestSubscribeMessage`` with the grants left; ``POST`` records the answer."""

    class InputSerializer(serializers.Serializer):
        accepted = serializers.ListField(
            child=serializers.CharField(max_length=64), max_length=20, default=list
        )
        rejected = serializers.ListField(
            child=serializers.CharField(max_length=64), max_length=20, default=list
        )

    class OutputSerializer(serializers.Serializer):
        template_id = serializers.CharField()
        event = serializers.CharField()
        title = serializers.CharField()
        grants_left = serializers.IntegerField()

    @extend_schema(
        operation_id="members_me_subscriptions_list", responses=OutputSerializer(many=True)
    )
    def get(self, request):
        templates = subscription_template_list(member_id=request.user.id)
        return Response(self.OutputSerializer(templates, many=True).data)

    @extend_schema(
        operation_id="members_me_subscriptions_record",
        request=InputSerializer,
        responses=OutputSerializer(many=True),
    )
    def post(self, request):
        """One grant more for each accepted template id; unknown ids are a 400."""
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        subscription_answer_record(member_id=request.user.id, **serializer.validated_data)
        templates = subscription_template_list(member_id=request.user.id)
        return Response(self.OutputSerializer(templates, many=True).data)
