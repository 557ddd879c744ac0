import pytest
from rest_framework.test import APIClient


@pytest.mark.django_db
def test_me_lists_the_roles_of_the_logged_in_user(api_for, senior) -> None:
    response = api_for(senior).get("/api/me/")
    assert response.status_code == 200
    assert response.json()["roles"] == ["reader", "senior_reader"]


@pytest.mark.django_db
def test_me_is_denied_to_anonymous_with_a_coded_error() -> None:
    response = APIClient().get("/api/me/")
    assert response.status_code in (401, 403)
    assert response.json()["code"] == "not_authenticated"


@pytest.mark.django_db
def test_token_auth_works_for_scripts(reader1) -> None:
    from rest_framework.authtoken.models import Token

    token = Token.objects.create(user=reader1)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert client.get("/api/me/").json()["username"] == "reader1"


@pytest.mark.django_db
def test_a_token_request_loads_the_user_and_roles_in_one_query(senior) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from rest_framework.authtoken.models import Token

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=senior).key}")
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/api/me/")
    # /api/me/ reads nothing but the user and its roles: the token's one query is the whole request.
    assert response.json()["roles"] == ["reader", "senior_reader"]
    assert len(queries) == 1, [q["sql"] for q in queries]


@pytest.mark.django_db
def test_a_token_of_an_inactive_user_is_refused(reader1) -> None:
    from rest_framework.authtoken.models import Token

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=reader1).key}")
    reader1.is_active = False
    reader1.save(update_fields=["is_active"])
    assert client.get("/api/me/").status_code in (401, 403)
    client.credentials(HTTP_AUTHORIZATION="Token not-a-token")
    assert client.get("/api/me/").status_code in (401, 403)
