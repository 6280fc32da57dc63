"""``GET /me/``: the reference's shape, with and without an organisation."""
import pytest

from tests.conftest import ApiClient


@pytest.mark.parametrize("path", ["/me/", "/me"])
def test_me_has_the_reference_shape(api, account, path):
    response = api.get(path)
    assert response.status_code == 200
    assert response.header("Content-Type") == "application/json"
    assert response.json() == {
        "user_id": account.user_id,
        "email": "user@example.com",
        "organisation_id": account.organisation_id,
        "organisation_name": "Dunder Mifflin",
        "api_key_name": "Test key",
        "api_key_scope": "write",
    }


def test_me_without_organisation_has_nulls(gateway, make_account):
    account = make_account(None, scope="read", email="solo@example.com")
    body = ApiClient(gateway, account.token).get("/me/").json()
    assert body == {"user_id": account.user_id, "email": "solo@example.com",
                    "organisation_id": None, "organisation_name": None,
                    "api_key_name": "Test key", "api_key_scope": "read"}
