"""A user's first steps with a client generated from the vault's /openapi.json (tests/client/run).

Creates an application and a seller of it, fetches the seller's access token twice (the second
from the cache), and checks that a refusal comes back as the documented problem+json. Only the
generated package is used to talk to the vault.

    python check.py BASE_URL TENANT_KEY
"""

import sys
import uuid
from http import HTTPStatus

from spvault_client import AuthenticatedClient
from spvault_client.api.applications import create_application, get_application
from spvault_client.api.sellers import create_seller, list_sellers
from spvault_client.api.tokens import seller_access_token
from spvault_client.models import (
    AccessToken,
    Application,
    CreateApplication,
    CreateSeller,
    Problem,
    Region,
    Seller,
)


def expect(condition, message):
    if not condition:
        print(f"client: FAILED: {message}")
        sys.exit(1)


def main(base_url, tenant_key):
    vault = AuthenticatedClient(base_url=base_url, token=tenant_key, raise_on_unexpected_status=True)
    suffix = uuid.uuid4().hex

    created = create_application.sync_detailed(
        client=vault,
        body=CreateApplication(
            name="generated client app",
            client_id=f"amzn1.application-oa2-client.{suffix}",
            client_secret=f"amzn1.oa2-cs.v1.{suffix}",
        ),
    )
    expect(created.status_code == HTTPStatus.CREATED, f"create_application: {created.status_code}")
    application = created.parsed
    expect(isinstance(application, Application), f"create_application parsed {application!r}")
    again = get_application.sync(client=vault, application_id=application.id)
    expect(isinstance(again, Application) and again.id == application.id, "get_application")

    seller = create_seller.sync(
        client=vault,
        body=CreateSeller(
            application_id=application.id,
            selling_partner_id="A" + suffix[:12].upper(),
            region=Region.EU,
            refresh_token=f"Atzr|{suffix}",
            external_id=f"customer-{suffix[:8]}",
            marketplace_ids=["A1PA6795UKMFR9"],
        ),
    )
    expect(isinstance(seller, Seller), f"create_seller parsed {seller!r}")
    expect(seller.application_id == application.id, "the seller's application")

    first = seller_access_token.sync(client=vault, seller_id=seller.id)
    expect(isinstance(first, AccessToken), f"seller_access_token parsed {first!r}")
    expect(first.access_token.startswith("Atza|"), "an LWA access token")
    expect(first.source == "lwa", f"the first token is exchanged at LWA, not {first.source}")
    second = seller_access_token.sync(client=vault, seller_id=seller.id)
    expect(isinstance(second, AccessToken) and second.source == "cache", "the second from the cache")
    expect(second.access_token == first.access_token, "the cached token is the same token")

    page = list_sellers.sync(client=vault, application_id=application.id)
    expect([s.id for s in page.data] == [seller.id], "list_sellers filtered by application")

    # A refusal the document declares, parsed as its schema.
    missing = seller_access_token.sync_detailed(client=vault, seller_id=uuid.uuid4())
    expect(missing.status_code == HTTPStatus.NOT_FOUND, f"an unknown seller: {missing.status_code}")
    expect(isinstance(missing.parsed, Problem) and missing.parsed.code == "not_found", f"{missing.parsed!r}")

    print("client: an application, a seller, its token (then from the cache) and a problem+json")
    print("client: 1 passed, 0 failed")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
