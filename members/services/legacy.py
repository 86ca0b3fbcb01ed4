"""Writers for the old plastic cards: the CSV import, and the takeover when a member binds the
card's phone.

The import streams the file (flat memory whatever its size) in batches. On PostgreSQL a batch
is copied into a temporary staging table and merged with one ``INSERT … ON CONFLICT`` that
skips unchanged rows, so re-running a file writes nothing; elsewhere (SQLite) the same merge is
done by comparing the batch with the stored rows. A bad row is written to a rejects CSV with its
line number and reason and never stops the import.
"""

import codecs
import csv
import datetime
import io
import logging
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field

from django.core.files import File
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from members.exceptions import LegacyImportFileError, PhoneTakenError
from members.models import (
    ImportStatus,
    LegacyCard,
    LegacyImport,
    Member,
    MemberNumberAlias,
)
from members.services.tags import member_level_tags_set

logger = logging.getLogger(__name__)

COLUMNS = ("card_no", "phone", "name", "gender", "birth_date", "level", "points")
BATCH_SIZE = 5000
# A job still "running" without progress for this long was lost with its worker; it may restart.
STALE_RUNNING_AFTER = datetime.timedelta(minutes=10)
_SNIFF_BYTES = 64 * 1024
_GENDERS = {"": "", "M": "M", "F": "F", "m": "M", "f": "F", "男": "M", "女": "F"}
_NAME_MAX = LegacyCard._meta.get_field("name").max_length
_LEVEL_MAX = LegacyCard._meta.get_field("level").max_length
_POINTS_MAX = 2**31 - 1
# Serialises the merge step of concurrent imports on PostgreSQL, so that each batch's phone
# check sees every card another import has written.
_MERGE_LOCK_KEY = 7_262_001


# --- Starting an import -----------------------------------------------------------------------


def legacy_import_create(
    *,
    uploaded_file: UploadedFile | None = None,
    source_path: str = "",
    created_by=None,
    run_in_background: bool = True,
) -> LegacyImport:
    """Record an import of ``uploaded_file`` (stored under MEDIA_ROOT) or of a file already on
    the server (``source_path``, read in place), and start it after commit.

    Side effects: a ``LegacyImport`` row; ``legacy_import_run_task`` enqueued on commit when
    ``run_in_background`` (with Celery eager, the embedded default, it runs inline then).
    """
    if not uploaded_file and not source_path:
        raise LegacyImportFileError(_("Choose a CSV file to import."))
    with transaction.atomic():
        job = LegacyImport(created_by=created_by, source_path=source_path)
        if uploaded_file:
            job.original_name = os.path.basename(uploaded_file.name)[:255]
            job.file_size = uploaded_file.size or 0
            job.file = uploaded_file
        else:
            job.original_name = os.path.basename(source_path)[:255]
            job.file_size = os.path.getsize(source_path)
        job.save()
        if run_in_background:
            from members.tasks import legacy_import_run_task

            transaction.on_commit(lambda: legacy_import_run_task.delay(job.pk))
    return job


# --- Running an import ------------------------------------------------------------------------


@dataclass
class _BatchResult:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    # (row, reason) for rows refused by the merge (a phone already on another card).
    rejects: list = field(default_factory=list)
    # member id → level for changed cards that a member has already taken over.
    claimed_levels: dict = field(default_factory=dict)


class _CountingReader(io.RawIOBase):
    """Counts the bytes read from ``raw`` so that progress can be told as a share of the file."""

    def __init__(self, raw):
        self.raw = raw
        self.count = 0

    def readable(self):
        return True

    def readinto(self, buffer):
        data = self.raw.read(len(buffer))
        size = len(data)
        buffer[:size] = data
        self.count += size
        return size


def detect_encoding(head: bytes) -> str:
    """``utf-8-sig`` when ``head`` decodes as UTF-8 (with or without a BOM), else ``gb18030``,
    the encoding the old card system exports."""
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return "gb18030"
    return "utf-8-sig"


class _RejectsWriter:
    """The rejects CSV, written to a temporary file as rows are refused, stored at the end."""

    def __init__(self):
        self._file = None
        self._writer = None
        self.path = None

    def write(self, line: int, reason: str, values) -> None:
        if self._writer is None:
            # Excel opens a UTF-8 CSV correctly only with a BOM.
            handle, self.path = tempfile.mkstemp(prefix="legacy-rejects-", suffix=".csv")
            self._file = open(handle, "w", encoding="utf-8-sig", newline="")  # noqa: SIM115
            self._writer = csv.writer(self._file)
            self._writer.writerow(["line", "reason", *COLUMNS])
        self._writer.writerow([line, reason, *values])

    def close(self) -> None:
        if self._file is not None:
            self._file.close()

    def discard(self) -> None:
        self.close()
        if self.path:
            os.unlink(self.path)


class _RowParser:
    """Validates one CSV record; dates are cached since a file repeats few thousand of them."""

    def __init__(self, *, today: datetime.date):
        self.today = today
        self._dates: dict[str, tuple[datetime.date | None, str | None]] = {}

    def parse(self, line: int, values: list[str]):
        """``(row, None)`` with row = (line, card_no, phone, name, gender, birth_date, level,
        points), or ``(None, reason)``."""
        card_no, phone, name, gender, birth_date, level, points = values
        if "\ufffd" in name or "\ufffd" in level:
            return None, _("characters that are not valid in the file's encoding")
        card_no, phone, birth_date, points = (
            card_no.strip(),
            phone.strip(),
            birth_date.strip(),
            points.strip(),
        )
        name, gender, level = name.strip(), gender.strip(), level.strip()
        if not (8 <= len(card_no) <= 20 and card_no.isascii() and card_no.isdigit()):
            return None, _("card number must be 8 to 20 digits")
        if phone:
            if not (len(phone) == 11 and phone[0] == "1" and phone.isascii() and phone.isdigit()):
                return None, _("phone must be 11 digits starting with 1")
        else:
            phone = None
        gender_code = _GENDERS.get(gender)
        if gender_code is None:
            return None, _("gender must be M, F, 男, 女 or empty")
        date, reason = self._date(birth_date)
        if reason:
            return None, reason
        if len(name) > _NAME_MAX:
            return None, _("name is longer than %(max)d characters") % {"max": _NAME_MAX}
        if len(level) > _LEVEL_MAX:
            return None, _("level is longer than %(max)d characters") % {"max": _LEVEL_MAX}
        if not points:
            points_value = 0
        elif points.isascii() and points.isdigit() and int(points) <= _POINTS_MAX:
            points_value = int(points)
        else:
            return None, _("points must be a whole number, 0 or more")
        return (line, card_no, phone, name, gender_code, date, level, points_value), None

    def _date(self, text: str):
        cached = self._dates.get(text)
        if cached is None:
            cached = self._dates[text] = self._parse_date(text)
        return cached

    def _parse_date(self, text: str):
        if not text:
            return None, None
        digits = text.replace("-", "") if len(text) == 10 else text
        if not (
            len(digits) == 8
            and digits.isascii()
            and digits.isdigit()
            and (len(text) == 8 or (text[4] == "-" and text[7] == "-"))
        ):
            return None, _("birth date must be YYYY-MM-DD or YYYYMMDD")
        try:
            date = datetime.date.fromisoformat(digits)
        except ValueError:
            return None, _("birth date is not a real date")
        if date > self.today:
            return None, _("birth date is in the future")
        if date.year < 1900:
            return None, _("birth date is before 1900")
        return date, None


def _claim_job(import_id: int, now: datetime.datetime) -> bool:
    """Move the job to running; False when another worker has it or it has finished."""
    claimable = LegacyImport.objects.filter(
        Q(status=ImportStatus.PENDING)
        | Q(status=ImportStatus.RUNNING, progress_at__lt=now - STALE_RUNNING_AFTER),
        pk=import_id,
    )
    return bool(
        claimable.update(
            status=ImportStatus.RUNNING,
            started_at=now,
            progress_at=now,
            finished_at=None,
            bytes_read=0,
            rows_read=0,
            imported=0,
            updated=0,
            unchanged=0,
            rejected=0,
            error="",
        )
    )


def _open_source(job: LegacyImport):
    if job.source_path:
        return open(job.source_path, "rb")
    job.file.open("rb")
    return job.file


def legacy_import_run(
    *,
    import_id: int,
    batch_size: int = BATCH_SIZE,
    progress: Callable[[LegacyImport], None] | None = None,
) -> LegacyImport:
    """Import the legacy cards of a pending ``LegacyImport``.

    Preconditions: the job is pending (or running but stale: its worker was lost); otherwise
    nothing happens, so a redelivered task is harmless.
    Side effects: cards inserted or updated by card number, each batch in its own transaction
    together with the job's progress; the level tag of changed cards already taken over; the
    rejects CSV stored on the job; ``progress(job)`` called after each batch.
    A file that cannot be read at all (wrong header) fails the job; a bad row never does.
    """
    now = timezone.now()
    if not _claim_job(import_id, now):
        return LegacyImport.objects.get(pk=import_id)
    job = LegacyImport.objects.get(pk=import_id)
    rejects = _RejectsWriter()
    try:
        _import_file(job, batch_size=batch_size, rejects=rejects, progress=progress)
    except Exception as exc:
        rejects.discard()
        message = str(exc) if isinstance(exc, LegacyImportFileError) else repr(exc)
        LegacyImport.objects.filter(pk=job.pk).update(
            status=ImportStatus.FAILED, error=message, finished_at=timezone.now()
        )
        if not isinstance(exc, LegacyImportFileError):
            logger.exception("legacy import %s failed", job.pk)
        job.refresh_from_db()
        return job
    rejects.close()
    if rejects.path:
        with open(rejects.path, "rb") as handle:
            job.rejects_file.save(f"rejects-{job.pk}.csv", File(handle), save=False)
        os.unlink(rejects.path)
    job.status = ImportStatus.DONE
    job.finished_at = job.progress_at = timezone.now()
    job.bytes_read = job.file_size
    job.save(update_fields=["status", "finished_at", "progress_at", "bytes_read", "rejects_file"])
    if progress:
        progress(job)
    return job


def _import_file(job, *, batch_size, rejects, progress):
    source = _open_source(job)
    try:
        head = source.read(_SNIFF_BYTES)
        source.seek(0)
        encoding = detect_encoding(head)
        job.encoding = "utf-8" if encoding == "utf-8-sig" else encoding
        if head.startswith(codecs.BOM_UTF8):
            job.encoding = "utf-8-sig"
        if not job.file_size:
            job.file_size = os.fstat(source.fileno()).st_size if job.source_path else job.file.size
        LegacyImport.objects.filter(pk=job.pk).update(
            encoding=job.encoding, file_size=job.file_size
        )
        counter = _CountingReader(source)
        text = io.TextIOWrapper(
            io.BufferedReader(counter, buffer_size=1 << 20),
            encoding=encoding,
            errors="replace",
            newline="",
        )
        reader = csv.reader(text)
        index = _header_index(next(reader, None))
        parser = _RowParser(today=timezone.localdate())
        merge = _merge_postgresql if connection.vendor == "postgresql" else _merge_portable

        batch: list[tuple] = []
        # Within a batch one card number and one phone appear once: the merge needs it, and a
        # phone on two cards is refused. Across batches the stored rows are checked instead.
        batch_cards: dict[str, int] = {}
        batch_phones: dict[str, tuple[str, int]] = {}
        rows_read = rejected = 0

        def flush():
            nonlocal batch, rejected
            with transaction.atomic():
                result = merge(batch, timezone.now()) if batch else _BatchResult()
                for row, reason in result.rejects:
                    rejects.write(row[0], reason, _row_values(row))
                rejected += len(result.rejects)
                if result.claimed_levels:
                    member_level_tags_set(levels_by_member=result.claimed_levels)
                job.rows_read = rows_read
                job.imported += result.inserted
                job.updated += result.updated
                job.unchanged += result.unchanged
                job.rejected = rejected
                job.bytes_read = counter.count
                job.progress_at = timezone.now()
                LegacyImport.objects.filter(pk=job.pk).update(
                    rows_read=job.rows_read,
                    imported=job.imported,
                    updated=job.updated,
                    unchanged=job.unchanged,
                    rejected=job.rejected,
                    bytes_read=job.bytes_read,
                    progress_at=job.progress_at,
                )
            batch = []
            batch_cards.clear()
            batch_phones.clear()
            if progress:
                progress(job)

        for values in reader:
            if not values or (len(values) == 1 and not values[0].strip()):
                continue  # blank line
            rows_read += 1
            line = reader.line_num
            if len(values) < len(index):
                rejected += 1
                rejects.write(
                    line,
                    _("expected %(count)d fields") % {"count": len(COLUMNS)},
                    values + [""] * (len(COLUMNS) - len(values)),
                )
                continue
            ordered = [values[i] for i in index]
            row, reason = parser.parse(line, ordered)
            if row is None:
                rejected += 1
                rejects.write(line, reason, ordered)
                continue
            card_no, phone = row[1], row[2]
            first_line = batch_cards.get(card_no)
            if first_line is not None:
                rejected += 1
                rejects.write(
                    line,
                    _("card number repeated (first on line %(line)d)") % {"line": first_line},
                    ordered,
                )
                continue
            if phone is not None:
                owner = batch_phones.get(phone)
                if owner is not None:
                    rejected += 1
                    rejects.write(
                        line,
                        _("phone already on card %(card)s (line %(line)d)")
                        % {"card": owner[0], "line": owner[1]},
                        ordered,
                    )
                    continue
                batch_phones[phone] = (card_no, line)
            batch_cards[card_no] = line
            batch.append(row)
            if len(batch) >= batch_size:
                flush()
        flush()
    finally:
        source.close()


def _header_index(header: list[str] | None) -> list[int]:
    if header is None:
        raise LegacyImportFileError(_("The file is empty."))
    names = [name.strip().lstrip("\ufeff").lower() for name in header]
    missing = [column for column in COLUMNS if column not in names]
    if missing:
        raise LegacyImportFileError(
            _("The header must have the columns %(columns)s; missing: %(missing)s.")
            % {"columns": ",".join(COLUMNS), "missing": ",".join(missing)}
        )
    return [names.index(column) for column in COLUMNS]


def _row_values(row: tuple) -> list:
    _line, card_no, phone, name, gender, birth_date, level, points = row
    return [card_no, phone or "", name, gender, birth_date or "", level, points]


def _phone_taken_reason(card_no: str) -> str:
    return _("phone already on card %(card)s") % {"card": card_no}


_STAGING_DDL = """
CREATE TEMP TABLE IF NOT EXISTS legacy_card_staging (
    line_no bigint NOT NULL,
    card_no varchar(20) NOT NULL,
    phone varchar(11),
    name varchar(64) NOT NULL,
    gender varchar(1) NOT NULL,
    birth_date date,
    level varchar(32) NOT NULL,
    points integer NOT NULL
) ON COMMIT DELETE ROWS
"""

_PHONE_CONFLICTS_SQL = """
DELETE FROM legacy_card_staging s
USING members_legacycard c
WHERE s.phone = c.phone AND c.card_no <> s.card_no
RETURNING s.line_no, c.card_no
"""

# Unchanged rows are skipped by the WHERE, so they are neither written nor returned; xmax = 0
# tells a freshly inserted row from an updated one.
_MERGE_SQL = """
WITH changed AS (
    INSERT INTO members_legacycard AS c
        (card_no, phone, name, gender, birth_date, level, points, imported_at, updated_at)
    SELECT card_no, phone, name, gender, birth_date, level, points, %(now)s, %(now)s
    FROM legacy_card_staging
    ON CONFLICT (card_no) DO UPDATE SET
        phone = EXCLUDED.phone,
        name = EXCLUDED.name,
        gender = EXCLUDED.gender,
        birth_date = EXCLUDED.birth_date,
        level = EXCLUDED.level,
        points = EXCLUDED.points,
        updated_at = EXCLUDED.updated_at
    WHERE (c.phone, c.name, c.gender, c.birth_date, c.level, c.points)
        IS DISTINCT FROM
        (EXCLUDED.phone, EXCLUDED.name, EXCLUDED.gender, EXCLUDED.birth_date, EXCLUDED.level,
         EXCLUDED.points)
    RETURNING (c.xmax = 0) AS inserted, c.claimed_by_id, c.level
)
SELECT
    count(*) FILTER (WHERE inserted),
    count(*) FILTER (WHERE NOT inserted),
    coalesce(array_agg(claimed_by_id) FILTER (WHERE claimed_by_id IS NOT NULL), '{}'),
    coalesce(array_agg(level) FILTER (WHERE claimed_by_id IS NOT NULL), '{}')
FROM changed
"""


def _merge_postgresql(rows: list[tuple], now: datetime.datetime) -> _BatchResult:
    """COPY the batch into a staging table, refuse phones held by other cards, then one upsert.

    Runs inside the caller's transaction; the staging table empties itself on commit.
    """
    result = _BatchResult()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_MERGE_LOCK_KEY])
        cursor.execute(_STAGING_DDL)
        # Emptied on commit too; this covers a batch run inside an outer transaction.
        cursor.execute("TRUNCATE legacy_card_staging")
        with cursor.copy(
            "COPY legacy_card_staging "
            "(line_no, card_no, phone, name, gender, birth_date, level, points) FROM STDIN"
        ) as copy:
            for row in rows:
                copy.write_row(row)
        cursor.execute(_PHONE_CONFLICTS_SQL)
        conflicts = cursor.fetchall()
        if conflicts:
            by_line = {row[0]: row for row in rows}
            for line, other_card in sorted(conflicts):
                result.rejects.append((by_line[line], _phone_taken_reason(other_card)))
        cursor.execute(_MERGE_SQL, {"now": now})
        inserted, updated, member_ids, levels = cursor.fetchone()
    result.inserted, result.updated = inserted, updated
    result.unchanged = len(rows) - len(conflicts) - inserted - updated
    result.claimed_levels = dict(zip(member_ids, levels, strict=True))
    return result


_COMPARED = ("phone", "name", "gender", "birth_date", "level", "points")


def _merge_portable(rows: list[tuple], now: datetime.datetime) -> _BatchResult:
    """The same merge for databases without COPY (SQLite): compare with the stored rows, then
    write only new and changed cards with one bulk upsert."""
    result = _BatchResult()
    stored = {
        card_no: (values, claimed_by_id)
        for card_no, claimed_by_id, *values in LegacyCard.objects.filter(
            card_no__in=[row[1] for row in rows]
        ).values_list("card_no", "claimed_by_id", *_COMPARED)
    }
    phone_owners = dict(
        LegacyCard.objects.filter(phone__in=[row[2] for row in rows if row[2]]).values_list(
            "phone", "card_no"
        )
    )
    to_write = []
    for row in rows:
        _line, card_no, phone, name, gender, birth_date, level, points = row
        owner = phone_owners.get(phone) if phone else None
        if owner is not None and owner != card_no:
            result.rejects.append((row, _phone_taken_reason(owner)))
            continue
        values = [phone, name, gender, birth_date, level, points]
        previous = stored.get(card_no)
        if previous is None:
            result.inserted += 1
        elif previous[0] == values:
            result.unchanged += 1
            continue
        else:
            result.updated += 1
            if previous[1] is not None:
                result.claimed_levels[previous[1]] = level
        to_write.append(
            LegacyCard(
                card_no=card_no,
                phone=phone,
                name=name,
                gender=gender,
                birth_date=birth_date,
                level=level,
                points=points,
                imported_at=now,
                updated_at=now,
            )
        )
    if to_write:
        LegacyCard.objects.bulk_create(
            to_write,
            update_conflicts=True,
            unique_fields=["card_no"],
            update_fields=[*_COMPARED, "updated_at"],
        )
    return result


# --- Card takeover ----------------------------------------------------------------------------


def legacy_card_takeover(*, member: Member, phone: str) -> LegacyCard | None:
    """Let ``member``, who is binding ``phone``, take over the unclaimed legacy card with it.

    Preconditions: called inside the phone binding's transaction, after ``member.phone`` is
    set (so that a failure here rolls the binding back too).
    Returns the card (also when this member already holds it), or None when no card has this
    phone or the member already took over another card (they keep that one).
    Raises ``PhoneTakenError`` when another member holds the card, including when two members
    race for it: the claim is one conditional update, so exactly one wins.
    Side effects: the card is claimed; the card number becomes ``member.member_no`` and the old
    number is kept as a ``MemberNumberAlias`` (lookups still find it); level and points carry
    over (points are added to the member's); an empty gender or birth date is filled from the
    card; the member gets the ``level-<level>`` tag. ``member`` is updated in memory too.
    """
    card = LegacyCard.objects.filter(phone=phone).first()
    if card is None:
        return None
    if card.claimed_by_id == member.pk:
        return card
    if card.claimed_by_id is not None:
        raise PhoneTakenError()
    if LegacyCard.objects.filter(claimed_by=member).exists():
        logger.warning("member %s already holds a card; card %s left as is", member.pk, card.pk)
        return None

    now = timezone.now()
    with transaction.atomic():
        try:
            with transaction.atomic():
                claimed = LegacyCard.objects.filter(pk=card.pk, claimed_by__isnull=True).update(
                    claimed_by=member, claimed_at=now
                )
        except IntegrityError:
            # The member's other card was claimed concurrently (one card per member).
            return None
        if not claimed:
            raise PhoneTakenError()
        card.claimed_by, card.claimed_at = member, now

        _member_number_take(member=member, number=card.card_no)
        changes = {"level": card.level, "points": F("points") + card.points}
        if not member.gender and card.gender:
            changes["gender"] = card.gender
        if member.birth_date is None and card.birth_date is not None:
            changes["birth_date"] = card.birth_date
        Member.objects.filter(pk=member.pk).update(**changes)
        member.refresh_from_db(fields=["level", "points", "gender", "birth_date"])
        if card.level:
            member_level_tags_set(levels_by_member={member.pk: card.level})
    return card


def _member_number_take(*, member: Member, number: str) -> None:
    """Make ``number`` the member's number and keep the old one as an alias.

    When the number is somebody else's already (a card number that happens to equal another
    member's generated number), the member keeps their number; the card still finds them.
    """
    if member.member_no == number:
        return
    old_number = member.member_no
    try:
        with transaction.atomic():
            Member.objects.filter(pk=member.pk).update(member_no=number)
            MemberNumberAlias.objects.create(number=old_number, member=member)
    except IntegrityError:
        logger.warning("card number %s is taken; member %s keeps %s", number, member.pk, old_number)
        return
    member.member_no = number
