"""Gets a seller's token from spvault through PyPI `python-amazon-sp-api`, unmodified.

The library takes its LWA client as a class (`auth_token_client_class`); the subclass below
changes only where the token request goes (scheme and host), as the library intends.

Environment: SPVAULT_URL (http://127.0.0.1:PORT), SELLER_ID, CLIENT_ID, TENANT_KEY.
Prints one JSON line: {"ok": true, "access_token", "expires_in"} or {"ok": false, "error_type",
"error", "message"}.
"""

import json
import os
from urllib.parse import urlsplit

from sp_api.api import Sellers
from sp_api.auth import AccessTokenClient
from sp_api.auth.exceptions import AuthorizationError

vault = urlsplit(os.environ["SPVAULT_URL"])


class VaultAccessTokenClient(AccessTokenClient):
    scheme = vault.scheme + "://"
    host = vault.netloc


client = Sellers(
    refresh_token=os.environ["SELLER_ID"],
    credentials={
        "refresh_token": os.environ["SELLER_ID"],
        "lwa_app_id": os.environ["CLIENT_ID"],
        "lwa_client_secret": os.environ["TENANT_KEY"],
    },
    auth_token_client_class=VaultAccessTokenClient,
)
try:
    auth = client.auth
    print(json.dumps({"ok": True, "access_token": auth.access_token, "expires_in": auth.expires_in}))
except AuthorizationError as err:
    print(json.dumps({"ok": False, "error_type": type(err).__name__, "error": err.error_code,
                      "message": err.message, "status": err.status_code}))
