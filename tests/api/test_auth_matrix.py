"""Authentication and scope errors through the gateway, with the contract's exact bodies."""
import pytest

from chalicelib.services import accounts

UNAUTHORIZED = {"detail": "Invalid or missing API key."}


@pytest.mark.parametrize("header", [
    None,
    "Basic dXNlcjpwYXNz",
    "Bearer",
    "Bearer tk_live_short_secret",
    "Bearer tk_live_zzzzzzzz_" + "0" * 32,
])
def test_bad_credentials_get_401_with_the_static_body(anonymous, account, header):
    headers = {"Authorization": header} if header else {}
    response = anonymous.get("/me/", headers=headers)
    assert response.status_code == 401
    assert response.json() == UNAUTHORIZED
    assert response.header("WWW-Authenticate") == "Bearer"


def test_wrong_secret_gets_401(anonymous, account):
    response = anonymous.as_(f"tk_live_{account.key_id}_{'0' * 32}").get("/me/")
    assert (response.status_code, response.json()) == (401, UNAUTHORIZED)


def test_revoked_key_fails_on_the_next_request(api, account):
    assert api.get("/me/").status_code == 200
    accounts.revoke_key(account.key_id)
    response = api.get("/me/")
    assert (response.status_code, response.json()) == (401, UNAUTHORIZED)


def test_free_plan_gets_403_and_plan_changes_apply_immediately(gateway, make_account):
    from tests.conftest import ApiClient
    account = make_account(plan="free")
    client = ApiClient(gateway, account.token)
    response = client.get("/me/")
    assert response.status_code == 403
    assert response.json() == {"detail": "Public API access is a Pro feature."}
    accounts.set_plan(account.user_id, "pro")
    assert client.get("/me/").status_code == 200
    accounts.set_plan(account.user_id, "free")
    assert client.get("/me/").status_code == 403


def test_read_key_can_get_but_not_post(gateway, make_account):
    from tests.conftest import ApiClient
    client = ApiClient(gateway, make_account(scope="read").token)
    assert client.get("/me/").status_code == 200
    response = client.post("/projects/", {"name": "x"})
    assert response.status_code == 403
    assert response.json() == {
        "detail": "This API key has read scope; POST, PATCH and DELETE need a write-scoped key."}


def test_checks_run_key_then_plan_then_scope(gateway, make_account):
    from tests.conftest import ApiClient
    client = ApiClient(gateway, make_account(plan="free", scope="read").token)
    response = client.post("/projects/", {"name": "x"})
    assert response.json() == {"detail": "Public API access is a Pro feature."}


def test_unknown_route_is_404_with_or_without_a_key(api, anonymous):
    for client in (api, anonymous):
        response = client.get("/nothing/here/")
        assert (response.status_code, response.json()) == (404, {"detail": "Not found."})


def test_known_route_with_a_wrong_method_is_405_with_allow(api):
    response = api.request("PUT", "/me/")
    assert response.status_code == 405
    assert response.json() == {"detail": 'Method "PUT" not allowed.'}
    assert response.header("Allow") == "GET, HEAD, OPTIONS"


def test_a_wrong_method_is_checked_for_the_key_first(anonymous, gateway, make_account):
    """SPEC section 2: key, plan and scope come before the route's 405."""
    from tests.conftest import ApiClient
    assert anonymous.request("PUT", "/projects/").status_code == 401
    read = ApiClient(gateway, make_account(scope="read").token)
    response = read.request("PUT", "/projects/")
    assert (response.status_code, response.json()["detail"]) == (
        403, "This API key has read scope; POST, PATCH and DELETE need a write-scoped key.")
    free = ApiClient(gateway, make_account(plan="free", email="f@example.com").token)
    assert free.request("PUT", "/me/").json() == {"detail": "Public API access is a Pro feature."}


def test_head_and_options_work_with_a_read_key(gateway, make_account):
    from tests.conftest import ApiClient
    read = ApiClient(gateway, make_account(scope="read").token)
    head = read.request("HEAD", "/me/")
    assert head.status_code == 200
    options = read.request("OPTIONS", "/projects/")
    assert (options.status_code, options.header("Allow")) == (204, "GET, HEAD, OPTIONS, POST")
    assert options.text == ""


def test_public_paths_stay_public_for_every_method(anonymous):
    response = anonymous.request("PUT", "/openapi.json")
    assert response.status_code == 405
