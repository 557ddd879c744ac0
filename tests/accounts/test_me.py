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
