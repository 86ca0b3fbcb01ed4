"""Writers for member tags: by admins (one member, or a CSV of member or card numbers), by the
legacy import (the card level), and by rules re-evaluated nightly.

Tags live in the ``Member.tags`` through table; every change here is a set-based statement on
that table (bulk insert, ``INSERT … SELECT``, one ``DELETE``), never a loop saving members.
"""

import codecs
import csv
import datetime
import io
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator

from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, OuterRef, QuerySet, Value
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _

from members.models import Member, Tag, TagAssignment, TagAssignmentAction, TagRule
from members.selectors.legacy import member_ids_find_by_numbers
from members.selectors.tags import tag_rule_members

MemberTag = Member.tags.through
LEVEL_TAG_PREFIX = "level-"
CHUNK_SIZE = 5000
_NOT_FOUND_SAMPLE = 20


def _chunks(items: Iterable, size: int = CHUNK_SIZE) -> Iterator[list]:
    chunk = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


# --- Level tags -------------------------------------------------------------------------------


def level_tag_slug(level: str) -> str:
    return LEVEL_TAG_PREFIX + (slugify(level, allow_unicode=True) or "unknown")[:56]


def tag_get_or_create_for_level(*, level: str) -> Tag:
    """The ``level-<level>`` tag, created on first use (safe when two imports race for it)."""
    slug = level_tag_slug(level)
    try:
        with transaction.atomic():
            tag, _created = Tag.objects.get_or_create(
                slug=slug, defaults={"name": _("Card level: %(level)s") % {"level": level}}
            )
    except IntegrityError:
        tag = Tag.objects.get(slug=slug)
    return tag


def member_level_tags_set(*, levels_by_member: dict[int, str]) -> None:
    """Give each member the tag of their card level and take away their other level tags.

    Side effects: rows added to and removed from the member–tag table; tags created on first
    use. An empty level leaves the member with no level tag.
    """
    by_level: dict[str, list[int]] = defaultdict(list)
    for member_id, level in levels_by_member.items():
        by_level[level].append(member_id)
    with transaction.atomic():
        for level, member_ids in by_level.items():
            tag = tag_get_or_create_for_level(level=level) if level else None
            for chunk in _chunks(member_ids):
                stale = MemberTag.objects.filter(
                    member_id__in=chunk, tag__slug__startswith=LEVEL_TAG_PREFIX
                )
                if tag is not None:
                    stale = stale.exclude(tag_id=tag.pk)
                stale.delete()
                if tag is not None:
                    MemberTag.objects.bulk_create(
                        [MemberTag(member_id=member_id, tag_id=tag.pk) for member_id in chunk],
                        ignore_conflicts=True,
                    )


# --- Admin tagging ----------------------------------------------------------------------------


def tag_members_add(*, tag: Tag, member_ids: Iterable[int]) -> int:
    """Add ``tag`` to the members; returns how many did not have it yet."""
    added = 0
    with transaction.atomic():
        for chunk in _chunks(member_ids):
            having = set(
                MemberTag.objects.filter(tag_id=tag.pk, member_id__in=chunk).values_list(
                    "member_id", flat=True
                )
            )
            new = [MemberTag(member_id=m, tag_id=tag.pk) for m in set(chunk) - having]
            MemberTag.objects.bulk_create(new, ignore_conflicts=True)
            added += len(new)
    return added


def tag_members_remove(*, tag: Tag, member_ids: Iterable[int]) -> int:
    """Remove ``tag`` from the members; returns how many had it."""
    removed = 0
    with transaction.atomic():
        for chunk in _chunks(member_ids):
            count, _detail = MemberTag.objects.filter(tag_id=tag.pk, member_id__in=chunk).delete()
            removed += count
    return removed


_NUMBER_SPLIT = re.compile(r"[\s,;]+")


def _numbers_from_text(text: str) -> Iterator[str]:
    for token in _NUMBER_SPLIT.split(text):
        if token:
            yield token


def _numbers_from_csv(file) -> Iterator[str]:
    """The first column of each row; a first row that is not a number is a header."""
    head = file.read(64 * 1024)
    file.seek(0)
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
        encoding = "utf-8-sig"
    except UnicodeDecodeError:
        encoding = "gb18030"
    text = io.TextIOWrapper(file, encoding=encoding, errors="replace", newline="")
    for index, row in enumerate(csv.reader(text)):
        if not row:
            continue
        value = row[0].strip()
        if index == 0 and not value.isdigit():
            continue
        if value:
            yield value


def tag_assign_from_csv(
    *,
    tag: Tag,
    action: str = TagAssignmentAction.ADD,
    numbers_file=None,
    numbers: str = "",
    created_by=None,
) -> TagAssignment:
    """Add ``tag`` to (or remove it from) the members given by member or card numbers.

    ``numbers_file`` is a CSV whose first column holds the numbers (header optional, UTF-8 or
    GB18030); ``numbers`` is text with one or more numbers per line. A number is a member
    number, an old number kept as an alias, or the card number of a card taken over. Numbers
    that match nobody are counted (a few kept as a sample), never an error.
    Side effects: a ``TagAssignment`` row recording the outcome; the member–tag rows changed.
    """
    assignment = TagAssignment(
        tag=tag, action=action, numbers=numbers, created_by=created_by, numbers_file=numbers_file
    )
    with transaction.atomic():
        assignment.save()
        sources: list[Iterator[str]] = [_numbers_from_text(numbers)]
        if numbers_file:
            assignment.numbers_file.open("rb")
            sources.append(_numbers_from_csv(assignment.numbers_file))
        not_found_sample: list[str] = []
        try:
            for source in sources:
                for chunk in _chunks(source):
                    found = member_ids_find_by_numbers(numbers=chunk)
                    assignment.numbers_read += len(chunk)
                    missing = [number for number in chunk if number not in found]
                    assignment.not_found += len(missing)
                    not_found_sample.extend(missing[: _NOT_FOUND_SAMPLE - len(not_found_sample)])
                    member_ids = set(found.values())
                    assignment.members_matched += len(member_ids)
                    if action == TagAssignmentAction.REMOVE:
                        assignment.changed += tag_members_remove(tag=tag, member_ids=member_ids)
                    else:
                        assignment.changed += tag_members_add(tag=tag, member_ids=member_ids)
        finally:
            if numbers_file:
                assignment.numbers_file.close()
        assignment.not_found_sample = "\n".join(not_found_sample)
        assignment.save()
    return assignment


# --- Rules ------------------------------------------------------------------------------------


def _insert_select(queryset: QuerySet, tag_id: int) -> int:
    """``INSERT INTO member_tags SELECT id, tag_id FROM (queryset)``: one statement."""
    rows = queryset.annotate(tag_value=Value(tag_id)).values_list("pk", "tag_value")
    sql, params = rows.query.get_compiler(using=queryset.db).as_sql()
    table = MemberTag._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {table} (member_id, tag_id) {sql}", params)
        return cursor.rowcount


def tag_rule_evaluate(*, rule: TagRule, now: datetime.datetime | None = None) -> tuple[int, int]:
    """Make the rule's tag sit on exactly the members that match the rule at ``now``.

    Returns ``(added, removed)``. Side effects: two set-based statements on the member–tag
    table (a ``DELETE`` of members that stopped matching, an ``INSERT … SELECT`` of new ones),
    and the counts written on the rule, all in one transaction.
    """
    now = now or timezone.now()
    matching = tag_rule_members(rule=rule, now=now)
    with transaction.atomic():
        removed, _detail = (
            MemberTag.objects.filter(tag_id=rule.tag_id)
            .exclude(Exists(matching.filter(pk=OuterRef("member_id"))))
            .delete()
        )
        added = _insert_select(
            matching.exclude(
                Exists(MemberTag.objects.filter(tag_id=rule.tag_id, member_id=OuterRef("pk")))
            ),
            rule.tag_id,
        )
        TagRule.objects.filter(pk=rule.pk).update(
            last_evaluated_at=now, last_added=added, last_removed=removed
        )
    rule.last_evaluated_at, rule.last_added, rule.last_removed = now, added, removed
    return added, removed


def tag_rules_evaluate(*, now: datetime.datetime | None = None) -> dict[int, tuple[int, int]]:
    """Evaluate every active rule, each in its own transaction; ``{rule id: (added, removed)}``."""
    now = now or timezone.now()
    return {
        rule.pk: tag_rule_evaluate(rule=rule, now=now)
        for rule in TagRule.objects.filter(is_active=True).order_by("pk")
    }
