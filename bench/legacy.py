"""Legacy import and targeted issue at scale, on PostgreSQL.

    python -m bench.legacy [--rows 1000000]

Uses its own database (``BENCH_LEGACY_DATABASE_URL``, default
``postgres://postgres@127.0.0.1:5432/bench_legacy``), dropped and created afresh. Prints:

- the import of a generated N-row CSV by ``manage.py import_legacy_cards`` in a child process:
  rows/s, the child's peak memory, and the ratio to a plain ``COPY`` of the same file into a
  bare table (goal ≤ 3×);
- a second import of the same file: rows changed (must be 0);
- a targeted issue to a tag of N members: rows/s and the ratio to a bare ``bulk_create`` of as
  many coupons (goal ≤ 3×).
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

import psycopg

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/bench_legacy"


def _recreate_database(url: str) -> None:
    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    admin_url = parsed._replace(path="/postgres").geturl()
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def _run_child(args: list[str], env: dict) -> tuple[float, int, str]:
    """Run a child process; returns (seconds, peak resident memory in MiB, stdout)."""
    started = time.monotonic()
    with tempfile.TemporaryFile() as out:
        child = subprocess.Popen(args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        _pid, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        elapsed = time.monotonic() - started
        out.seek(0)
        text = out.read().decode(errors="replace")
    if child.returncode:
        raise SystemExit(f"{' '.join(args)} failed:\n{text}")
    return elapsed, usage.ru_maxrss // 1024, text


def _plain_copy_seconds(url: str, path: str) -> float:
    with psycopg.connect(url) as conn:
        conn.execute(
            "CREATE TABLE bench_bare_copy (card_no text, phone text, name text, gender text, "
            "birth_date text, level text, points text)"
        )
        conn.commit()
        started = time.monotonic()
        with (
            conn.cursor() as cursor,
            cursor.copy(
                "COPY bench_bare_copy FROM STDIN WITH (FORMAT csv, HEADER, ENCODING 'GB18030')"
            ) as copy,
            open(path, "rb") as handle,
        ):
            while chunk := handle.read(1 << 20):
                copy.write(chunk)
        conn.commit()
        elapsed = time.monotonic() - started
        conn.execute("DROP TABLE bench_bare_copy")
        conn.commit()
    return elapsed


def _import_figures(url: str, job_id_before: int) -> tuple[int, int, int, int, int]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT rows_read, imported, updated, unchanged, rejected FROM members_legacyimport "
            "WHERE id > %s ORDER BY id DESC LIMIT 1",
            [job_id_before],
        ).fetchone()


def _last_job_id(url: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT coalesce(max(id), 0) FROM members_legacyimport").fetchone()[0]


def _bench_import(url: str, env: dict, rows: int) -> None:
    from bench.make_legacy_csv import write

    with tempfile.TemporaryDirectory() as workdir:
        path = os.path.join(workdir, "legacy.csv")
        started = time.monotonic()
        write(path, rows, encoding="gb18030", bad_rows=max(rows // 100_000, 10))
        size_mb = os.path.getsize(path) / 2**20
        print(
            f"generated {rows:,} rows ({size_mb:.0f} MiB, GB18030) "
            f"in {time.monotonic() - started:.1f}s"
        )

        copy_seconds = _plain_copy_seconds(url, path)
        print(
            f"plain COPY into a bare table: {copy_seconds:.1f}s ({rows / copy_seconds:,.0f} rows/s)"
        )

        command = [sys.executable, "manage.py", "import_legacy_cards", path]
        before = _last_job_id(url)
        seconds, peak_mb, _out = _run_child(command, env)
        read, imported, updated, unchanged, rejected = _import_figures(url, before)
        print(
            f"import: {seconds:.1f}s, {read / seconds:,.0f} rows/s, peak memory {peak_mb} MiB; "
            f"{imported:,} new, {updated:,} updated, {rejected:,} rejected; "
            f"{seconds / copy_seconds:.1f}× the plain COPY (goal ≤ 3×)"
        )

        before = _last_job_id(url)
        seconds, peak_mb, _out = _run_child(command, env)
        read, imported, updated, unchanged, rejected = _import_figures(url, before)
        print(
            f"second import of the same file: {seconds:.1f}s, {read / seconds:,.0f} rows/s, "
            f"peak memory {peak_mb} MiB; rows changed: {imported + updated} (must be 0), "
            f"{unchanged:,} unchanged"
        )


def _bench_targeted_issue(rows: int) -> None:
    import django

    django.setup()
    from django.db import connection, transaction
    from django.utils import timezone

    from coupons.models import Campaign, Coupon, CouponSource
    from members.models import Tag
    from members.services.targeted_issues import targeted_issue_create, targeted_issue_run
    from tests.factories import CampaignFactory

    tag = Tag.objects.create(slug="bench-audience", name="bench audience")
    with connection.cursor() as cursor:
        # N plain members beside the legacy cards, all carrying the tag.
        cursor.execute(
            "INSERT INTO members_member (member_no, openid, session_key, nickname, avatar_url, "
            "gender, level, points, is_active, location_consent) "
            "SELECT '99' || lpad(n::text, 10, '0'), 'bench-' || n, '', '', '', '', '', 0, true, "
            "false FROM generate_series(1, %s) AS n",
            [rows],
        )
        cursor.execute(
            "INSERT INTO members_member_tags (member_id, tag_id) "
            "SELECT id, %s FROM members_member WHERE openid LIKE 'bench-%%'",
            [tag.pk],
        )
        cursor.execute("ANALYZE")
    member_ids = list(
        tag.members.order_by("pk").values_list("pk", flat=True)  # the same rows as the issue
    )

    baseline = CampaignFactory(total_stock=rows, name="bench baseline")
    now = timezone.now()
    started = time.monotonic()
    for start in range(0, len(member_ids), 5000):
        with transaction.atomic():
            Coupon.objects.bulk_create(
                [
                    Coupon(
                        campaign_id=baseline.pk,
                        member_id=member_id,
                        source=CouponSource.TARGETED,
                        valid_from=now,
                        valid_until=now,
                    )
                    for member_id in member_ids[start : start + 5000]
                ]
            )
    bulk_seconds = time.monotonic() - started
    print(
        f"bare bulk_create of {rows:,} coupons: {bulk_seconds:.1f}s ({rows / bulk_seconds:,.0f}/s)"
    )

    campaign = CampaignFactory(total_stock=rows, name="bench targeted")
    issue = targeted_issue_create(campaign=campaign, tag=tag, run_in_background=False)
    started = time.monotonic()
    issue = targeted_issue_run(issue_id=issue.pk)
    seconds = time.monotonic() - started
    print(
        f"targeted issue to {issue.members_total:,} members: {seconds:.1f}s, "
        f"{issue.issued / seconds:,.0f} coupons/s, {issue.issued:,} issued; "
        f"{seconds / bulk_seconds:.1f}× the bare bulk insert (goal ≤ 3×)"
    )
    started = time.monotonic()
    again = targeted_issue_run(
        issue_id=targeted_issue_create(campaign=campaign, tag=tag, run_in_background=False).pk
    )
    print(
        f"second issue to the same tag: {time.monotonic() - started:.1f}s, "
        f"{again.issued} issued (must be 0), {again.skipped_already_had:,} skipped"
    )
    assert Campaign.objects.get(pk=campaign.pk).remaining_stock == 0


def run(rows: int = 1_000_000, parts: tuple[str, ...] = ("import", "targeted")) -> None:
    url = os.environ.get("BENCH_LEGACY_DATABASE_URL", DEFAULT_URL)
    _recreate_database(url)
    os.environ.update(
        DATABASE_URL=url,
        DJANGO_SETTINGS_MODULE="backend.settings",
        CELERY_BROKER_URL="",
        MEDIA_ROOT=tempfile.mkdtemp(prefix="bench-legacy-media-"),
    )
    env = dict(os.environ)
    _run_child([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], env)
    print(f"== legacy cards: {rows:,} rows on PostgreSQL")
    if "import" in parts:
        _bench_import(url, env, rows)
    if "targeted" in parts:
        _bench_targeted_issue(rows)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="legacy import and targeted issue benchmark")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--only", choices=["import", "targeted"], help="run one part only")
    arguments = parser.parse_args()
    run(arguments.rows, (arguments.only,) if arguments.only else ("import", "targeted"))
