"""The Django side of the web UI: the SPA shell behind login, its assets from the Vite manifest,
and the login/logout pages."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


@pytest.fixture
def built_frontend(settings, tmp_path: Path) -> Path:  # type: ignore[no-untyped-def]
    """A dist folder with a manifest shaped like Vite's (entry + shared chunk with its own CSS)."""
    (tmp_path / ".vite").mkdir()
    manifest = {
        "_shared-abc.js": {"file": "assets/shared-abc.js", "css": ["assets/shared-abc.css"]},
        "index.html": {"file": "assets/main-123.js", "src": "index.html", "isEntry": True,
                       "imports": ["_shared-abc.js"], "css": ["assets/main-123.css"]},
    }
    (tmp_path / ".vite" / "manifest.json").write_text(json.dumps(manifest))
    settings.FRONTEND_DIST_DIR = tmp_path
    return tmp_path


def _logged_in(user) -> Client:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(user)
    return client


def test_anonymous_visitor_is_sent_to_the_login_page(built_frontend) -> None:  # type: ignore[no-untyped-def]
    response = Client().get("/read/5/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/read/5/"


def test_shell_links_the_hashed_entry_script_and_all_its_styles(built_frontend, reader1) -> None:  # type: ignore[no-untyped-def]
    response = _logged_in(reader1).get("/")
    html = response.content.decode()
    assert response.status_code == 200
    assert '<script type="module" src="/static/assets/main-123.js">' in html
    assert 'href="/static/assets/main-123.css"' in html
    assert 'href="/static/assets/shared-abc.css"' in html
    assert 'rel="modulepreload" href="/static/assets/shared-abc.js"' in html


def test_shell_tells_the_app_who_is_logged_in_and_sets_the_csrf_cookie(built_frontend, senior) -> None:  # type: ignore[no-untyped-def]
    response = _logged_in(senior).get("/")
    boot_start = response.content.decode().index('id="mammolab-boot"')
    boot_json = response.content.decode()[boot_start:].split(">", 1)[1].split("</script>", 1)[0]
    boot = json.loads(boot_json)
    assert boot["user"]["username"] == "senior1"
    assert boot["user"]["roles"] == ["reader", "senior_reader"]
    assert boot["urls"]["logout"] == "/accounts/logout/"
    assert "csrftoken" in response.cookies


@pytest.mark.parametrize("path", ["/read/12/", "/arbitrate/3/", "/manage/", "/manage/progress/"])
def test_client_side_routes_answer_the_same_shell(built_frontend, reader1, path: str) -> None:  # type: ignore[no-untyped-def]
    response = _logged_in(reader1).get(path)
    assert response.status_code == 200
    assert "/static/assets/main-123.js" in response.content.decode()


def test_unknown_paths_are_not_swallowed_by_the_shell(built_frontend, reader1) -> None:  # type: ignore[no-untyped-def]
    assert _logged_in(reader1).get("/no-such-page/").status_code == 404


def test_missing_build_answers_503_with_the_command_that_builds_it(settings, tmp_path, reader1) -> None:  # type: ignore[no-untyped-def]
    settings.FRONTEND_DIST_DIR = tmp_path / "dist"
    response = _logged_in(reader1).get("/")
    assert response.status_code == 503
    assert "npm run build" in response.content.decode()


def test_a_rebuild_is_picked_up_without_restarting(built_frontend, reader1) -> None:  # type: ignore[no-untyped-def]
    client = _logged_in(reader1)
    client.get("/")
    manifest_path = built_frontend / ".vite" / "manifest.json"
    manifest_path.write_text(json.dumps({"index.html": {"file": "assets/main-NEW.js", "isEntry": True}}))
    stat = manifest_path.stat()
    os.utime(manifest_path, (stat.st_atime, stat.st_mtime + 5))
    assert "/static/assets/main-NEW.js" in client.get("/").content.decode()


def test_login_with_the_right_password_opens_the_worklist(built_frontend, reader1) -> None:  # type: ignore[no-untyped-def]
    client = Client()
    page = client.get("/accounts/login/")
    assert page.status_code == 200
    assert 'name="username"' in page.content.decode()
    response = client.post("/accounts/login/", {"username": "reader1", "password": "pw-reader1"})
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert client.get("/").status_code == 200


def test_login_with_a_wrong_password_says_so(built_frontend, reader1) -> None:  # type: ignore[no-untyped-def]
    response = Client().post("/accounts/login/", {"username": "reader1", "password": "nope"})
    assert response.status_code == 200
    assert "did not match" in response.content.decode()


def test_logout_ends_the_session(built_frontend, reader1) -> None:  # type: ignore[no-untyped-def]
    client = _logged_in(reader1)
    response = client.post("/accounts/logout/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/"
    assert client.get("/").status_code == 302


def test_api_docs_load_every_asset_from_this_server_so_they_work_offline(admin_user) -> None:  # type: ignore[no-untyped-def]
    import re

    from django.contrib.staticfiles import finders

    client = _logged_in(admin_user)
    page = client.get("/api/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    assets = re.findall(r'(?:src|href)="([^"]+)"', html) + re.findall(r"""(?:src|href)\s*=\s*'([^']+)'""", html)
    scripts = [a for a in assets if a.endswith(".js")]
    assert scripts, html[:500]
    for asset in assets:
        assert not asset.startswith(("http://", "https://", "//")), f"{asset} needs the internet"
        if asset.startswith("/static/"):
            # What runserver (DEBUG) and WhiteNoise after collectstatic serve: a static file found here.
            assert finders.find(asset.removeprefix("/static/")), f"{asset} is not a static file of this server"
