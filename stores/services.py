"""Use cases of the stores area that change state: the POS sign-in, staff groups."""

import datetime
import hashlib
import time
from dataclasses import dataclass

from django.contrib.auth import authenticate
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.db import transaction

from stores.authentication import pos_token_for
from stores.exceptions import InvalidCredentialsError, NotStoreStaffError, TooManyAttemptsError
from stores.models import StaffProfile, StaffRole, Store
from stores.permissions import GROUP_FOR_ROLE, ensure_staff_groups

# More than this many failed sign-ins within one window, for one username or from one
# address, and further attempts are refused until the window ends.
POS_LOGIN_MAX_FAILURES = 5
POS_LOGIN_WINDOW_SECONDS = 60

POS_ROLES = (StaffRole.CASHIER, StaffRole.STORE_MANAGER)


@dataclass(frozen=True)
class PosSession:
    token: str
    user_id: int
    role: str
    store: Store
    expires_at: datetime.datetime


def _failure_keys(*, username: str, client_ip: str) -> list[str]:
    window = int(time.time() // POS_LOGIN_WINDOW_SECONDS)
    # Hashed: a username is free text and cache keys must stay short and plain.
    username_digest = hashlib.sha256(username.strip().lower().encode()).hexdigest()[:32]
    return [
        f"pos-login-failures:user:{username_digest}:{window}",
        f"pos-login-failures:ip:{client_ip}:{window}",
    ]


def _failures_exceeded(keys: list[str]) -> bool:
    counts = cache.get_many(keys)
    return any(int(count) >= POS_LOGIN_MAX_FAILURES for count in counts.values())


def _failure_record(keys: list[str]) -> None:
    for key in keys:
        # add() is a no-op when the key exists, so concurrent failures all land in incr().
        cache.add(key, 0, timeout=POS_LOGIN_WINDOW_SECONDS * 2)
        try:
            cache.incr(key)
        except ValueError:  # expired between add() and incr()
            cache.add(key, 1, timeout=POS_LOGIN_WINDOW_SECONDS * 2)


def pos_session_start(*, username: str, password: str, client_ip: str) -> PosSession:
    """Sign a cashier or store manager in at a till and issue their shift token.

    Preconditions: the user is active, the password is right, and their staff profile makes
    them a cashier or store manager of an active store.

    Raises ``TooManyAttemptsError`` (429) once this username or this address has failed more
    than ``POS_LOGIN_MAX_FAILURES`` times in the current minute, before checking the password;
    ``InvalidCredentialsError`` (401) for an unknown user, a wrong password or a disabled
    account (the same answer for each); ``NotStoreStaffError`` (403) for other users.

    Side effects: a failed password check counts one failure for the username and one for the
    address in the cache (fixed one-minute windows). Nothing is written to the database.
    """
    keys = _failure_keys(username=username, client_ip=client_ip)
    if _failures_exceeded(keys):
        raise TooManyAttemptsError()

    user = authenticate(username=username, password=password)
    if user is None:
        _failure_record(keys)
        raise InvalidCredentialsError()

    profile = (
        StaffProfile.objects.select_related("store")
        .filter(user=user, role__in=POS_ROLES, store__is_active=True)
        .first()
    )
    if profile is None:
        raise NotStoreStaffError()

    token = pos_token_for(user_id=user.pk, store_id=profile.store_id, role=profile.role)
    return PosSession(
        token=str(token),
        user_id=user.pk,
        role=profile.role,
        store=profile.store,
        expires_at=datetime.datetime.fromtimestamp(token["exp"], tz=datetime.UTC),
    )


def staff_groups_sync(*, user) -> None:
    """Put a staff user in the admin group of their role, and out of the other staff groups.

    Preconditions: none; a user without a staff profile is left alone, and the staff groups
    are created when missing.
    Side effects: changes the user's staff group memberships; other groups are kept.
    """
    role = StaffProfile.objects.filter(user=user).values_list("role", flat=True).first()
    if role is None:
        return  # not staff of the chain: groups are whatever an admin chose
    staff_group_names = set(GROUP_FOR_ROLE.values())
    wanted_name = GROUP_FOR_ROLE.get(role)
    with transaction.atomic():
        groups = {group.name: group for group in Group.objects.filter(name__in=staff_group_names)}
        if wanted_name and wanted_name not in groups:
            groups = ensure_staff_groups()
        for name in staff_group_names:
            if name == wanted_name:
                user.groups.add(groups[name])
            elif name in groups:
                user.groups.remove(groups[name])
