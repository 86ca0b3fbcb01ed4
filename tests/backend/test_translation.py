"""The Simplified Chinese catalog: complete, compiled, and what shoppers read by default."""

import ast
import gettext
import shutil
import subprocess
from pathlib import Path

import pytest
from django.conf import settings as django_settings

LOCALE_DIR = Path(django_settings.BASE_DIR) / "locale" / "zh_Hans" / "LC_MESSAGES"
PO_PATH = LOCALE_DIR / "django.po"
MO_PATH = LOCALE_DIR / "django.mo"
LOGIN = "/api/auth/wechat/login"


def _po_entries(path: Path) -> list[dict]:
    """Entries of a .po file: keyword → unescaped string, plus the flags and a line number."""
    entries, entry, keyword = [], None, None
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line:
            entry = None
            continue
        if line.startswith("#"):
            if entry is None:
                entry = {"flags": set(), "line": number}
                entries.append(entry)
            if line.startswith("#,"):
                entry["flags"].update(flag.strip() for flag in line[2:].split(","))
            continue
        if entry is None:
            entry = {"flags": set(), "line": number}
            entries.append(entry)
        if line.startswith('"'):
            entry[keyword] += ast.literal_eval(line)
        else:
            keyword, text = line.split(" ", 1)
            entry[keyword] = ast.literal_eval(text)
    return [e for e in entries if "msgid" in e]


def _po_catalog(entries: list[dict]) -> dict:
    """What msgfmt writes for these entries, keyed the way gettext.GNUTranslations keys it."""
    catalog = {}
    for entry in entries:
        if entry["msgid"] == "":
            continue
        msgid = entry["msgid"]
        if "msgctxt" in entry:
            msgid = f"{entry['msgctxt']}\x04{msgid}"
        if "msgid_plural" in entry:
            for key, text in entry.items():
                if key.startswith("msgstr["):
                    catalog[(msgid, int(key[7:-1]))] = text
        else:
            catalog[msgid] = entry["msgstr"]
    return catalog


def _mo_catalog(path: Path) -> dict:
    with path.open("rb") as fp:
        catalog = dict(gettext.GNUTranslations(fp)._catalog)
    catalog.pop("", None)  # the header
    return catalog


@pytest.mark.django_db
def test_api_errors_are_chinese_by_default(api_client, settings):
    settings.LANGUAGE_CODE = "zh-hans"

    response = api_client.post(LOGIN, {"code": "bad-1"}, format="json")

    assert response.status_code == 400
    assert response.json() == {"code": "wechat_invalid_code", "detail": "微信登录失败，请重试。"}


@pytest.mark.django_db
def test_api_errors_follow_an_english_accept_language(api_client, settings):
    settings.LANGUAGE_CODE = "zh-hans"

    response = api_client.post(LOGIN, {"code": "bad-1"}, format="json", HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 400
    assert response.json() == {
        "code": "wechat_invalid_code",
        "detail": "WeChat did not accept this code; please try again.",
    }


def test_every_message_has_a_chinese_translation():
    entries = _po_entries(PO_PATH)
    header = next(e for e in entries if e["msgid"] == "")

    untranslated = [
        (e["line"], e["msgid"])
        for e in entries
        if e["msgid"] and not all(text for key, text in e.items() if key.startswith("msgstr"))
    ]
    fuzzy = [(e["line"], e["msgid"]) for e in entries if "fuzzy" in e["flags"]]

    assert len(entries) > 300
    assert untranslated == []
    assert fuzzy == []
    assert "Plural-Forms: nplurals=1; plural=0;" in header["msgstr"]
    assert "charset=UTF-8" in header["msgstr"]


def test_compiled_catalog_matches_the_po():
    assert _mo_catalog(MO_PATH) == _po_catalog(_po_entries(PO_PATH)), (
        "django.mo is stale: run `python manage.py compilemessages -l zh_Hans` and commit it"
    )


MSGFMT = shutil.which("msgfmt")


@pytest.mark.skipif(MSGFMT is None, reason="GNU gettext (msgfmt) is not installed")
def test_po_passes_msgfmt_check_and_compiles_to_the_committed_mo(tmp_path):
    compiled = tmp_path / "django.mo"

    result = subprocess.run(  # noqa: S603 - msgfmt on our own catalog
        [MSGFMT, "--check", "-o", str(compiled), str(PO_PATH)],
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert _mo_catalog(compiled) == _mo_catalog(MO_PATH)
