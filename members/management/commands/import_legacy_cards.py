"""Import legacy plastic-card members from a CSV file on this server, with a progress bar."""

import os
import sys
import time

from django.core.management.base import BaseCommand, CommandError

from members.models import ImportStatus, LegacyImport
from members.services.legacy import BATCH_SIZE, legacy_import_create, legacy_import_run


class Command(BaseCommand):
    help = (
        "Import legacy card members (card_no,phone,name,gender,birth_date,level,points; UTF-8 "
        "or GB18030). Rows are upserted by card number; rejected rows are written to a CSV "
        "whose path is printed at the end."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="path of the CSV file")
        parser.add_argument(
            "--background",
            action="store_true",
            help="hand the import to a Celery worker and return at once",
        )
        parser.add_argument("--batch-size", type=int, default=BATCH_SIZE)

    def handle(self, *args, file, background, batch_size, **options):
        path = os.path.abspath(file)
        if not os.path.isfile(path):
            raise CommandError(f"no such file: {path}")
        job = legacy_import_create(source_path=path, run_in_background=background)
        if background:
            self.stdout.write(f"import #{job.pk} queued; follow it in admin")
            return
        started = time.monotonic()
        interactive = sys.stdout.isatty()

        def progress(current: LegacyImport):
            self._bar(current, time.monotonic() - started, interactive)

        job = legacy_import_run(import_id=job.pk, batch_size=batch_size, progress=progress)
        self.stdout.write("")
        if job.status == ImportStatus.FAILED:
            raise CommandError(job.error)
        elapsed = time.monotonic() - started
        self.stdout.write(
            self.style.SUCCESS(
                f"import #{job.pk} ({job.encoding}): {job.rows_read} rows read, "
                f"{job.imported} new, {job.updated} updated, {job.unchanged} unchanged, "
                f"{job.rejected} rejected "
                f"in {elapsed:.1f}s ({job.rows_read / max(elapsed, 1e-9):,.0f} rows/s)"
            )
        )
        if job.rejects_file:
            self.stdout.write(f"rejected rows: {job.rejects_file.path}")

    def _bar(self, job: LegacyImport, elapsed: float, interactive: bool) -> None:
        share = job.bytes_read / job.file_size if job.file_size else 0.0
        share = min(share, 1.0)
        width = 30
        filled = int(share * width)
        rate = job.rows_read / elapsed if elapsed > 0 else 0
        left = (elapsed / share - elapsed) if 0 < share < 1 else 0
        line = (
            f"[{'#' * filled}{'.' * (width - filled)}] {share:6.1%} "
            f"{job.rows_read:>10,} rows {rate:>9,.0f}/s  ~{left:4.0f}s left  "
            f"new {job.imported:,} upd {job.updated:,} rej {job.rejected:,}"
        )
        # A carriage return redraws the bar in place on a terminal; a log gets one line a batch.
        self.stdout.write(
            ("\r" + line) if interactive else line, ending="" if interactive else "\n"
        )
        self.stdout.flush()
