"""The legacy card import: encodings, every reject reason, idempotent re-runs, batches."""

import csv
import datetime
import io

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse

from members.models import ImportStatus, LegacyCard, LegacyImport
from members.services.legacy import (
    detect_encoding,
    legacy_card_takeover,
    legacy_import_create,
    legacy_import_run,
)
from tests.factories import LegacyCardFactory, MemberFactory

HEADER = "card_no,phone,name,gender,birth_date,level,points"
GOOD = [
    "660000000001,13800138000,王芳,女,1985-03-12,gold,1200",
    "660000000002,13900139000,李强,M,19900101,silver,0",
    "660000000003,,张伟,,,regular,",
]


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def write_csv(tmp_path, lines, *, encoding="utf-8", name="cards.csv"):
    path = tmp_path / name
    path.write_bytes(("\n".join([HEADER, *lines]) + "\n").encode(encoding))
    return path


def run_import(path, *, batch_size=5000) -> LegacyImport:
    job = legacy_import_create(source_path=str(path), run_in_background=False)
    return legacy_import_run(import_id=job.pk, batch_size=batch_size)


def rejects_of(job) -> dict[int, str]:
    with job.rejects_file.open("rb") as handle:
        text = handle.read().decode("utf-8-sig")
    return {int(row["line"]): row["reason"] for row in csv.DictReader(io.StringIO(text))}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("encoding", "recorded"),
    [("utf-8", "utf-8"), ("utf-8-sig", "utf-8-sig"), ("gb18030", "gb18030")],
)
def test_import_reads_each_encoding_the_old_system_exports(tmp_path, encoding, recorded):
    # given a file in that encoding
    path = write_csv(tmp_path, GOOD, encoding=encoding)

    # when imported
    job = run_import(path)

    # then every row is in, with its Chinese name intact
    assert job.status == ImportStatus.DONE
    assert job.encoding == recorded
    assert (job.rows_read, job.imported, job.rejected) == (3, 3, 0)
    card = LegacyCard.objects.get(card_no="660000000001")
    assert (card.name, card.gender, card.birth_date) == ("王芳", "F", datetime.date(1985, 3, 12))
    second = LegacyCard.objects.get(card_no="660000000002")
    assert (second.gender, second.birth_date, second.points) == ("M", datetime.date(1990, 1, 1), 0)
    third = LegacyCard.objects.get(card_no="660000000003")
    assert (third.phone, third.gender, third.birth_date, third.points) == (None, "", None, 0)


def test_gb18030_is_detected_even_when_the_first_chunk_ends_mid_character():
    assert detect_encoding("王".encode("gb18030") * 10) == "gb18030"
    assert detect_encoding(("a" * 10 + "王").encode("utf-8")[:-1]) == "utf-8-sig"


@pytest.mark.django_db
@time_machine.travel(datetime.datetime(2026, 6, 1, 12, tzinfo=datetime.UTC), tick=False)
def test_every_bad_row_is_rejected_with_its_line_and_reason(tmp_path):
    # given one bad row of each kind after a good one (line 2)
    LegacyCardFactory(card_no="770000000001", phone="13500135000")
    lines = [
        "660000000010,13800138000,王芳,F,1985-03-12,gold,10",  # 2 good
        "660000000011,12345,李,M,1985-03-12,gold,10",  # 3 phone
        "660000000012,23800138001,李,M,1985-03-12,gold,10",  # 4 phone not starting with 1
        "660000000013,13800138013,李,X,1985-03-12,gold,10",  # 5 gender
        "660000000014,13800138014,李,M,1985-02-30,gold,10",  # 6 impossible date
        "660000000015,13800138015,李,M,1985/02/03,gold,10",  # 7 date format
        "660000000016,13800138016,李,M,2027-01-01,gold,10",  # 8 future date
        "1234567,13800138017,李,M,1985-03-12,gold,10",  # 9 card too short
        "123456789012345678901,13800138018,李,M,1985-03-12,gold,10",  # 10 card too long
        "66000000001A,13800138019,李,M,1985-03-12,gold,10",  # 11 card not digits
        "660000000020,13800138020,李,M,1985-03-12,gold,-5",  # 12 negative points
        "660000000021,13800138021,李,M,1985-03-12,gold,1.5",  # 13 points not whole
        "660000000022,13800138000,李,M,1985-03-12,gold,10",  # 14 phone of line 2's card
        "660000000010,13800138023,李,M,1985-03-12,gold,10",  # 15 card of line 2 again
        "660000000024,13500135000,李,M,1985-03-12,gold,10",  # 16 phone of a stored card
        "660000000025,13800138025,李",  # 17 too few fields
        "660000000026,13800138026," + "名" * 65 + ",M,,gold,10",  # 18 name too long
    ]
    path = write_csv(tmp_path, lines)

    # when imported
    job = run_import(path)

    # then only the good row is in and each bad one is in the rejects file with its reason
    assert (job.status, job.rows_read, job.imported, job.rejected) == ("done", 17, 1, 16)
    assert list(
        LegacyCard.objects.exclude(card_no="770000000001").values_list("card_no", flat=True)
    ) == ["660000000010"]
    reasons = rejects_of(job)
    assert sorted(reasons) == list(range(3, 19))
    expected = {
        3: "phone must be 11 digits",
        4: "phone must be 11 digits",
        5: "gender must be",
        6: "not a real date",
        7: "YYYY-MM-DD or YYYYMMDD",
        8: "in the future",
        9: "8 to 20 digits",
        10: "8 to 20 digits",
        11: "8 to 20 digits",
        12: "whole number",
        13: "whole number",
        14: "phone already on card 660000000010 (line 2)",
        15: "card number repeated (first on line 2)",
        16: "phone already on card 770000000001",
        17: "expected 7 fields",
        18: "name is longer",
    }
    for line, text in expected.items():
        assert text in reasons[line], (line, reasons[line])


@pytest.mark.django_db
def test_a_phone_repeated_in_a_later_batch_is_rejected_against_the_stored_card(tmp_path):
    # given the same phone on two cards that land in different batches
    lines = [*GOOD, "660000000009,13800138000,赵,M,,gold,1"]
    path = write_csv(tmp_path, lines)

    # when imported two rows at a time
    job = run_import(path, batch_size=2)

    # then the first card keeps the phone and the later row is refused, naming it
    assert (job.imported, job.rejected) == (3, 1)
    assert rejects_of(job) == {5: "phone already on card 660000000001"}
    assert LegacyCard.objects.get(phone="13800138000").card_no == "660000000001"


@pytest.mark.django_db
def test_reimporting_the_same_file_changes_nothing(tmp_path):
    # given an imported file
    path = write_csv(tmp_path, GOOD)
    run_import(path)
    before = dict(LegacyCard.objects.values_list("card_no", "updated_at"))

    # when imported again
    job = run_import(path, batch_size=2)

    # then no row is written
    assert (job.imported, job.updated, job.unchanged, job.rejected) == (0, 0, 3, 0)
    assert dict(LegacyCard.objects.values_list("card_no", "updated_at")) == before


@pytest.mark.django_db
def test_a_corrected_file_updates_only_what_changed(tmp_path):
    # given an imported file
    run_import(write_csv(tmp_path, GOOD, name="first.csv"))
    first_imported_at = LegacyCard.objects.get(card_no="660000000002").imported_at

    # when a file with one card's points and phone corrected and one new card is imported
    corrected = [
        GOOD[0],
        "660000000002,13900139001,李强,M,19900101,silver,50",
        GOOD[2],
        "660000000004,13700137000,周,F,,regular,5",
    ]
    job = run_import(write_csv(tmp_path, corrected, name="second.csv"))

    # then the corrected card is updated, the new one inserted, the rest untouched
    assert (job.imported, job.updated, job.unchanged) == (1, 1, 2)
    card = LegacyCard.objects.get(card_no="660000000002")
    assert (card.phone, card.points, card.imported_at) == ("13900139001", 50, first_imported_at)
    assert card.updated_at > first_imported_at


@pytest.mark.django_db
def test_a_new_level_for_a_card_already_taken_over_moves_the_members_level_tag(tmp_path):
    # given a card taken over by a member
    run_import(write_csv(tmp_path, GOOD, name="first.csv"))
    member = MemberFactory(phone="13800138000")
    legacy_card_takeover(member=member, phone="13800138000")
    assert list(member.tags.values_list("slug", flat=True)) == ["level-gold"]

    # when a file moves the card to platinum
    lines = ["660000000001,13800138000,王芳,女,1985-03-12,platinum,1200", *GOOD[1:]]
    run_import(write_csv(tmp_path, lines, name="second.csv"))

    # then the member carries the new level's tag only
    assert list(member.tags.values_list("slug", flat=True)) == ["level-platinum"]


@pytest.mark.django_db
def test_a_file_without_the_expected_header_fails_the_import_without_writing(tmp_path):
    path = tmp_path / "wrong.csv"
    path.write_text("card,mobile\n660000000001,13800138000\n", encoding="utf-8")

    job = run_import(path)

    assert job.status == ImportStatus.FAILED
    assert "missing" in job.error
    assert not LegacyCard.objects.exists()


@pytest.mark.django_db
def test_a_running_or_finished_import_is_not_run_twice(tmp_path):
    job = run_import(write_csv(tmp_path, GOOD))
    LegacyCard.objects.all().delete()

    again = legacy_import_run(import_id=job.pk)

    assert again.status == ImportStatus.DONE
    assert not LegacyCard.objects.exists()


@pytest.mark.django_db
def test_the_command_imports_a_file_and_reports_the_counts(tmp_path):
    path = write_csv(tmp_path, [*GOOD, "1,2,3,4,5,6,7"])
    out = io.StringIO()

    call_command("import_legacy_cards", str(path), stdout=out)

    assert "4 rows read, 3 new, 0 updated, 0 unchanged, 1 rejected" in out.getvalue()
    assert LegacyCard.objects.count() == 3


@pytest.mark.django_db
def test_admin_uploads_a_file_shows_progress_and_serves_the_rejects(
    admin_client, django_capture_on_commit_callbacks
):
    # given a file with one bad row
    content = "\n".join([HEADER, *GOOD, "660000000009,123,坏,M,,gold,1"]).encode("gb18030")
    upload = SimpleUploadedFile("cards.csv", content, content_type="text/csv")

    # when an admin uploads it (Celery eager: it runs once the upload commits)
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            reverse("admin:members_legacyimport_add"), {"file": upload}, follow=True
        )

    # then the import's page shows it finished, and the rejects download names the bad row
    assert response.status_code == 200
    job = LegacyImport.objects.get()
    assert (job.status, job.imported, job.rejected, job.encoding) == ("done", 3, 1, "gb18030")
    page = admin_client.get(reverse("admin:members_legacyimport_change", args=[job.pk]))
    assert page.status_code == 200
    assert "Rows/s" in page.content.decode()
    download = admin_client.get(reverse("admin:members_legacyimport_rejects", args=[job.pk]))
    body = b"".join(download.streaming_content).decode("utf-8-sig")
    assert "5,phone must be 11 digits" in body
    listing = admin_client.get(reverse("admin:members_legacyimport_changelist"))
    assert listing.status_code == 200


@pytest.mark.django_db
def test_admin_pages_of_cards_render(admin_client):
    LegacyCardFactory()
    for name in ["members_legacycard_changelist", "members_tagrule_changelist"]:
        assert admin_client.get(reverse(f"admin:{name}")).status_code == 200
