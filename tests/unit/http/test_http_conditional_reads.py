"""GET /api/orders/<id> names the order's version in an ETag: a client that
holds it (If-None-Match) is answered 304 with no body until the order
changes, and no shared cache may keep the customer data it carries."""

from __future__ import annotations

from flask.testing import FlaskClient

from tests.unit.http.support import assert_problem, owner_of, place


def test_a_read_names_the_version_and_may_not_be_kept_by_shared_caches(
    client: FlaskClient,
) -> None:
    placed = place(client)

    response = client.get(f"/api/orders/{placed['id']}", headers=owner_of(placed))

    assert response.status_code == 200
    assert response.headers["ETag"] == '"v1"'
    assert response.headers["Cache-Control"] == "private, no-cache"


def test_the_version_a_client_holds_is_answered_304_without_a_body(client: FlaskClient) -> None:
    placed = place(client)
    url = f"/api/orders/{placed['id']}"
    etag = client.get(url, headers=owner_of(placed)).headers["ETag"]

    for held in (etag, f"W/{etag}", f'"v9", {etag}', "*"):
        response = client.get(url, headers={**owner_of(placed), "If-None-Match": held})
        assert response.status_code == 304, held
        assert response.data == b""
        assert response.headers["ETag"] == etag


def test_a_change_answers_the_new_version(client: FlaskClient) -> None:
    placed = place(client)
    url = f"/api/orders/{placed['id']}"
    etag = client.get(url, headers=owner_of(placed)).headers["ETag"]
    cancelled = client.post(f"{url}/cancel", headers=owner_of(placed), json={})
    assert cancelled.status_code == 200

    response = client.get(url, headers={**owner_of(placed), "If-None-Match": etag})

    assert response.status_code == 200
    assert response.get_json()["status"] == "cancelled"
    assert response.headers["ETag"] == '"v2"'


def test_a_stranger_holding_the_etag_still_gets_404(client: FlaskClient) -> None:
    mine, theirs = place(client), place(client)
    url = f"/api/orders/{theirs['id']}"
    etag = client.get(url, headers=owner_of(theirs)).headers["ETag"]

    response = client.get(url, headers={**owner_of(mine), "If-None-Match": etag})

    assert_problem(response, 404, "id")


def test_without_credentials_an_etag_gets_401(client: FlaskClient) -> None:
    placed = place(client)

    response = client.get(f"/api/orders/{placed['id']}", headers={"If-None-Match": '"v1"'})

    assert_problem(response, 401)
