"""Calls SP-API operations through spvault's SP-API proxy with PyPI `python-amazon-sp-api` (2.1.35),
unmodified: the library keeps its code (operations, request building, response parsing, its
exceptions) and holds no Amazon token at all.

Two settings do it:
- the SP-API host: a marketplace whose `endpoint` is the vault's proxy route for the seller
  (`…/v1/sellers/{id}/sp-api`) or, for grantless operations, for the application
  (`…/v1/applications/{id}/sp-api`);
- the token: a subclass of the library's token client (`auth_token_client_class`) that hands out
  the tenant API key instead of asking Login with Amazon. The library sends it in
  `x-amz-access-token`, where the vault takes it; the vault then attaches the real token.

Run with the venv install.sh made:
    tests/sdk/.cache/venv/bin/python tests/sdk/python_amazon_sp_api_proxy.py VAULT_URL SELLER_ID APPLICATION_ID TENANT_KEY
or with no arguments and the environment variables SPVAULT_URL, SELLER_ID, APPLICATION_ID, TENANT_KEY.

Prints one JSON line and exits 0:
  {"ok": true, "marketplaces": [...], "rate_limit": "...", "request_id": "...", "destinations": [...]}
  {"ok": false, "error_type": "SellingApiRequestThrottledException", "error": "<Amazon's code>"}
Exits 2 for bad usage; any other non-zero exit is a crash.
"""

import json
import os
import sys
from types import SimpleNamespace

from sp_api.api import Notifications, Sellers
from sp_api.auth import AccessTokenClient, AccessTokenResponse
from sp_api.base import SellingApiException

NAMES = ("SPVAULT_URL", "SELLER_ID", "APPLICATION_ID", "TENANT_KEY")
args = sys.argv[1:] or [os.environ.get(name, "") for name in NAMES]
if len(args) != 4 or not all(args):
    print(f"usage: {sys.argv[0]} VAULT_URL SELLER_ID APPLICATION_ID TENANT_KEY "
          f"(or set {', '.join(NAMES)})", file=sys.stderr)
    sys.exit(2)
vault_url, seller_id, application_id, tenant_key = args
vault_url = vault_url.rstrip("/")


# --- the configuration a user needs -------------------------------------------------------------
class VaultKey(AccessTokenClient):
    """The library's token client, giving the tenant key as the token: no LWA call, no token."""

    def get_auth(self):
        return AccessTokenResponse(access_token=tenant_key, token_type="bearer", expires_in=3600)

    def get_grantless_auth(self, scope="sellingpartnerapi::notifications"):
        return self.get_auth()


def through_vault(path):
    """A marketplace (US) whose SP-API host is the vault's proxy route."""
    return SimpleNamespace(endpoint=vault_url + path, marketplace_id="ATVPDKIKX0DER",
                           region="us-east-1")


# The library wants LWA credentials to exist; the vault's proxy never uses them.
unused = {"lwa_app_id": "unused", "lwa_client_secret": "unused", "refresh_token": "unused"}
sellers = Sellers(marketplace=through_vault(f"/v1/sellers/{seller_id}/sp-api"),
                  credentials=unused, auth_token_client_class=VaultKey)
notifications = Notifications(marketplace=through_vault(f"/v1/applications/{application_id}/sp-api"),
                              credentials=unused, auth_token_client_class=VaultKey)
# ------------------------------------------------------------------------------------------------

try:
    participations = sellers.get_marketplace_participation()
    destinations = notifications.get_destinations()
    print(json.dumps({
        "ok": True,
        "marketplaces": [p["marketplace"]["id"] for p in participations.payload],
        "rate_limit": participations.rate_limit,
        "request_id": participations.headers.get("x-amzn-RequestId"),
        "destinations": [d["name"] for d in destinations.payload],
    }))
except SellingApiException as err:
    print(json.dumps({"ok": False, "error_type": type(err).__name__,
                      "error": (err.error or [{}])[0].get("code")}))
