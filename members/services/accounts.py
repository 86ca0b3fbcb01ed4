"""Member accounts: WeChat login, tokens, profile and phone binding."""

import logging
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import RefreshToken

from backend import wechat
from members.exceptions import InvalidRefreshTokenError, MemberDisabledError, PhoneTakenError
from members.member_numbers import member_number_next
from members.models import Member
from members.services.legacy import legacy_card_takeover

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class MemberLogin:
    member: Member
    is_new: bool
    access: str
    refresh: str


def member_tokens_issue(*, member: Member) -> tuple[str, str]:
    """A fresh ``(access, refresh)`` pair for ``member``. Writes nothing."""
    refresh = RefreshToken.for_user(member)
    return str(refresh.access_token), str(refresh)


def _member_create(*, session: wechat.WeChatSession, now) -> tuple[Member, bool]:
    """Create the member for ``session.openid``, or return the one a racing login created."""
    try:
        with transaction.atomic():
            member = Member.objects.create(
                member_no=member_number_next(),
                openid=session.openid,
                unionid=session.unionid,
                session_key=session.session_key,
                last_login_at=now,
            )
    except IntegrityError:
        # Two first logins for one openid: the unique constraint lets one in, the other
        # reads the winner. (A member number allocated here is skipped, never reused.)
        return Member.objects.get(openid=session.openid), False
    return member, True


def member_login_with_wechat(*, code: str) -> MemberLogin:
    """Log a shopper in with a ``wx.login`` code; create the member on first login.

    Asks WeChat for the openid (code2session), creates the member with a new member number
    the first time, records the session key, and issues tokens. Raises the gateway's errors
    (``wechat_invalid_code``, ``wechat_unavailable``, ...) and ``MemberDisabledError``.
    """
    session = wechat.wechat_code_to_session(code)
    now = timezone.now()
    member = Member.objects.filter(openid=session.openid).first()
    is_new = False
    if member is None:
        member, is_new = _member_create(session=session, now=now)
    if not member.is_active:
        raise MemberDisabledError()
    if not is_new:
        changes = {"session_key": session.session_key, "last_login_at": now}
        if session.unionid and not member.unionid:
            changes["unionid"] = session.unionid
        Member.objects.filter(pk=member.pk).update(**changes)
        for field, value in changes.items():
            setattr(member, field, value)
    access, refresh = member_tokens_issue(member=member)
    return MemberLogin(member=member, is_new=is_new, access=access, refresh=refresh)


def member_token_refresh(*, refresh: str) -> str:
    """A new access token for a valid refresh token whose member is still active."""
    try:
        token = RefreshToken(refresh)
        member_id = int(token["member_id"])
    except (TokenError, KeyError, TypeError, ValueError):
        raise InvalidRefreshTokenError() from None
    is_active = Member.objects.filter(pk=member_id).values_list("is_active", flat=True).first()
    if is_active is None:
        raise InvalidRefreshTokenError()
    if not is_active:
        raise MemberDisabledError()
    return str(token.access_token)


PROFILE_FIELDS = ("nickname", "avatar_url", "gender", "birth_date")


def member_profile_update(*, member_id: int, data: dict) -> Member:
    """Change the fields a shopper may edit (``PROFILE_FIELDS``); others are ignored here
    because the API refuses them before calling. ``Member.DoesNotExist`` for an unknown id."""
    member = Member.objects.get(pk=member_id)
    changed = [field for field in PROFILE_FIELDS if field in data]
    for field in changed:
        setattr(member, field, data[field])
    if changed:
        member.full_clean(exclude=["member_no", "openid", "unionid", "session_key", "phone"])
        member.save(update_fields=changed)
    return member


def member_phone_bind(*, member_id: int, code: str) -> Member:
    """Bind the phone number behind a ``getPhoneNumber`` code to the member.

    Asks WeChat for the number first (outside the transaction: no lock is held while waiting
    on the network). Binding the number the member already has is a no-op. A number that
    another member holds raises ``PhoneTakenError``; the unique constraint on ``phone``
    settles two members racing for one number. If an unclaimed legacy card has this phone,
    the member takes it over in the same transaction (``legacy_card_takeover``): its card
    number becomes the member number, with its level and points.
    """
    phone = wechat.wechat_phone_number(code)
    try:
        with transaction.atomic():
            member = Member.objects.select_for_update().get(pk=member_id)
            if member.phone == phone:
                return member
            if Member.objects.filter(phone=phone).exclude(pk=member.pk).exists():
                raise PhoneTakenError()
            member.phone = phone
            member.phone_bound_at = timezone.now()
            member.save(update_fields=["phone", "phone_bound_at"])
            # An old plastic card with this phone becomes the member's, in this transaction.
            legacy_card_takeover(member=member, phone=phone)
    except IntegrityError:
        raise PhoneTakenError() from None
    return member


def member_set_active(*, member: Member, is_active: bool) -> None:
    """Enable or disable a member (admin). A disabled member cannot log in or refresh; access
    tokens already issued expire within two hours."""
    Member.objects.filter(pk=member.pk).update(is_active=is_active)
    member.is_active = is_active
