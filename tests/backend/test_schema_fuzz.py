"""Property-based run of the whole API against its own OpenAPI schema (schemathesis).

Every operation gets generated valid and invalid requests, once as a shopper and once as a
cashier; no answer may be a 5xx, and every answer must match the schema (errors match the
documented ``default`` error response).
"""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from rest_framework_simplejwt.tokens import RefreshToken

from stores.authentication import pos_token_for
from tests.factories import MemberFactory, StaffProfileFactory

CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
    ]
)
MAX_EXAMPLES = 10


def schemathesis_run(base_url, token):
    executable = shutil.which("schemathesis") or str(Path(sys.executable).with_name("schemathesis"))
    return subprocess.run(  # noqa: S603 - our own test tool with fixed arguments
        [
            executable,
            "run",
            f"{base_url}/api/schema/",
            "--checks",
            CHECKS,
            "--max-examples",
            str(MAX_EXAMPLES),
            "--phases",
            "examples,coverage,fuzzing",
            "--seed",
            "20261203",
            "--max-time",
            "100",
            "--request-timeout",
            "10",
            "--header",
            f"Authorization: Bearer {token}",
            "--suppress-health-check",
            "all",
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=400,
        check=False,
    )


@pytest.mark.django_db(transaction=True)
def test_no_operation_answers_500_or_outside_the_schema_as_a_shopper(live_server):
    token = str(RefreshToken.for_user(MemberFactory()).access_token)

    result = schemathesis_run(live_server.url, token)

    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]


@pytest.mark.django_db(transaction=True)
def test_no_operation_answers_500_or_outside_the_schema_as_a_cashier(live_server):
    staff = StaffProfileFactory()
    token = str(pos_token_for(user_id=staff.user_id, store_id=staff.store_id, role=staff.role))

    result = schemathesis_run(live_server.url, token)

    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
