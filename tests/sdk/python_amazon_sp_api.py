"""Gets a seller's access token from spvault through PyPI `python-amazon-sp-api` (2.1.35), unmodified.

The library takes its LWA token client as a class (`auth_token_client_class`); the subclass below
changes only the class attributes that say where the token request goes (`scheme`, `host`,
`path` of `sp_api.auth.AccessTokenClient`). The library itself builds, sends and parses the
request (a form body, through httpx).

Run with the venv install.sh made:
    tests/sdk/.cache/venv/bin/python tests/sdk/python_amazon_sp_api.py VAULT_URL SELLER_ID CLIENT_ID TENANT_KEY
or with no arguments and the environment variables SPVAULT_URL, SELLER_ID, CLIENT_ID, TENANT_KEY.
  VAULT_URL   the vault's base URL, e.g. http://127.0.0.1:8080 (a path prefix is kept)
  SELLER_ID   the seller's id at the vault (sent as the refresh token)
  CLIENT_ID   the application's LWA client id
  TENANT_KEY  a tenant API key with scope `tokens` (sent as the client secret)

Prints one JSON line and exits 0:
  {"ok": true, "access_token": "...", "expires_in": N}
  {"ok": false, "error_type": "AuthorizationError", "error": "<LWA error>", "message": "...", "status": N}
(any other exception raised while the SDK gets its token is reported the same way, with its own
class name). Exits 2 for bad usage; any other non-zero exit is a crash.
"""

import json
import os
import sys
from urllib.parse import urlsplit

from sp_api.api import Sellers
from sp_api.auth import AccessTokenClient
from sp_api.auth.exceptions import AuthorizationError

NAMES = ("SPVAULT_URL", "SELLER_ID", "CLIENT_ID", "TENANT_KEY")
args = sys.argv[1:] or [os.environ.get(name, "") for name in NAMES]
if len(args) != 4 or not all(args):
    print(f"usage: {sys.argv[0]} VAULT_URL SELLER_ID CLIENT_ID TENANT_KEY "
          f"(or set {', '.join(NAMES)})", file=sys.stderr)
    sys.exit(2)
vault_url, seller_id, client_id, tenant_key = args
vault = urlsplit(vault_url.rstrip("/"))


# --- the configuration a user needs -------------------------------------------------------------
class VaultAccessTokenClient(AccessTokenClient):
    scheme = vault.scheme + "://"           # "https://" in production
    host = vault.netloc                     # "vault.example.com" (with ":port" if any)
    path = vault.path + "/auth/o2/token"    # the default path, under the vault's prefix if any


client = Sellers(
    refresh_token=seller_id,
    credentials={
        "refresh_token": seller_id,
        "lwa_app_id": client_id,
        "lwa_client_secret": tenant_key,
    },
    auth_token_client_class=VaultAccessTokenClient,
)
# ------------------------------------------------------------------------------------------------

try:
    auth = client.auth  # AccessTokenClient.get_auth(): POSTs the form and parses the answer
    print(json.dumps({"ok": True, "access_token": auth.access_token, "expires_in": auth.expires_in}))
except AuthorizationError as err:
    print(json.dumps({"ok": False, "error_type": type(err).__name__, "error": err.error_code,
                      "message": err.message, "status": err.status_code}))
except Exception as err:  # e.g. httpx.ConnectError, or a JSONDecodeError for a non-JSON body
    print(json.dumps({"ok": False, "error_type": type(err).__name__, "error": None,
                      "message": str(err)}))
