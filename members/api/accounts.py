"""Shopper endpoints for login and the member's own account, and the POS member lookup."""

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from members.models import Gender, Member, mask_phone
from members.selectors.accounts import (
    member_code_issue,
    member_identify,
    member_profile_get,
)
from members.services.accounts import (
    PROFILE_FIELDS,
    member_login_with_wechat,
    member_phone_bind,
    member_profile_update,
    member_token_refresh,
)
from stores.authentication import PosApiMixin


class TagOutputSerializer(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()


class MemberOutputSerializer(serializers.Serializer):
    """The member as the member sees it (``member_profile_get``): never the openid, unionid or
    session key, and the phone masked."""

    member_no = serializers.CharField()
    nickname = serializers.CharField()
    avatar_url = serializers.CharField()
    gender = serializers.CharField()
    birth_date = serializers.DateField(allow_null=True)
    phone = serializers.SerializerMethodField()
    level = serializers.CharField()
    points = serializers.IntegerField()
    tags = TagOutputSerializer(many=True)
    joined_at = serializers.DateTimeField()

    def get_phone(self, profile) -> str | None:
        return mask_phone(profile["phone"])


class CodeOutputSerializer(serializers.Serializer):
    code = serializers.CharField()
    expires_in = serializers.IntegerField(help_text=_("Seconds until the code expires."))


class WeChatLoginApi(APIView):
    authentication_classes = ()
    permission_classes = (AllowAny,)

    class InputSerializer(serializers.Serializer):
        # wx.login codes are 32 characters; anything much longer is not one.
        code = serializers.CharField(max_length=64)

    class OutputSerializer(serializers.Serializer):
        access = serializers.CharField()
        refresh = serializers.CharField()
        is_new = serializers.BooleanField()
        member = MemberOutputSerializer()

    @extend_schema(request=InputSerializer, responses={200: OutputSerializer}, auth=[])
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        login = member_login_with_wechat(code=serializer.validated_data["code"])
        member = member_profile_get(member_id=login.member.pk)
        body = {
            "access": login.access,
            "refresh": login.refresh,
            "is_new": login.is_new,
            "member": member,
        }
        return Response(self.OutputSerializer(body).data)


class TokenRefreshApi(APIView):
    authentication_classes = ()
    permission_classes = (AllowAny,)

    class InputSerializer(serializers.Serializer):
        refresh = serializers.CharField(max_length=1024)

    class OutputSerializer(serializers.Serializer):
        access = serializers.CharField()

    @extend_schema(request=InputSerializer, responses={200: OutputSerializer}, auth=[])
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        access = member_token_refresh(refresh=serializer.validated_data["refresh"])
        return Response({"access": access})


class MemberMeApi(APIView):
    class UpdateInputSerializer(serializers.Serializer):
        nickname = serializers.CharField(max_length=32, allow_blank=True, required=False)
        avatar_url = serializers.URLField(max_length=500, allow_blank=True, required=False)
        gender = serializers.ChoiceField(choices=Gender.choices, required=False)
        birth_date = serializers.DateField(allow_null=True, required=False)

        def validate_birth_date(self, value):
            if value and value > timezone.localdate():
                raise serializers.ValidationError(_("The birth date cannot be in the future."))
            return value

        def validate(self, attrs):
            unknown = sorted(set(self.initial_data) - set(PROFILE_FIELDS))
            if unknown:
                raise serializers.ValidationError(
                    {field: [_("This field cannot be changed.")] for field in unknown}
                )
            return attrs

    @extend_schema(responses={200: MemberOutputSerializer})
    def get(self, request):
        profile = member_profile_get(member_id=request.user.id)
        return Response(MemberOutputSerializer(profile).data)

    @extend_schema(request=UpdateInputSerializer, responses={200: MemberOutputSerializer})
    def patch(self, request):
        if not isinstance(request.data, dict):
            raise serializers.ValidationError(_("Send a JSON object."))
        serializer = self.UpdateInputSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        member_profile_update(member_id=request.user.id, data=serializer.validated_data)
        return Response(MemberOutputSerializer(member_profile_get(member_id=request.user.id)).data)


class MemberPhoneBindApi(APIView):
    class InputSerializer(serializers.Serializer):
        code = serializers.CharField(max_length=128)

    @extend_schema(request=InputSerializer, responses={200: MemberOutputSerializer})
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        member_phone_bind(member_id=request.user.id, code=serializer.validated_data["code"])
        return Response(MemberOutputSerializer(member_profile_get(member_id=request.user.id)).data)


class MemberCodeApi(APIView):
    @extend_schema(responses={200: CodeOutputSerializer})
    def get(self, request):
        issued = member_code_issue(member_id=request.user.id)
        return Response({"code": issued.code, "expires_in": issued.expires_in})


class PosMemberIdentifyApi(PosApiMixin, APIView):
    """The member behind a scanned member code, or a typed member number."""

    class InputSerializer(serializers.Serializer):
        code = serializers.CharField(max_length=64, help_text=_("A member code or member number."))

    class OutputSerializer(serializers.Serializer):
        member_no = serializers.CharField()
        nickname = serializers.CharField()
        phone = serializers.SerializerMethodField()
        level = serializers.CharField()
        points = serializers.IntegerField()
        tags = TagOutputSerializer(many=True, source="tags.all")

        def get_phone(self, member: Member) -> str | None:
            return mask_phone(member.phone)

    @extend_schema(request=InputSerializer, responses={200: OutputSerializer})
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        member = member_identify(code=serializer.validated_data["code"])
        return Response(self.OutputSerializer(member).data, status=status.HTTP_200_OK)
