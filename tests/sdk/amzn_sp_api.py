"""Gets a seller's token from spvault through Amazon's official Python SDK (PyPI `amzn-sp-api`),
unmodified: its LWA endpoint is a plain setting (`oauth_endpoint`).

Environment: SPVAULT_URL, SELLER_ID, CLIENT_ID, TENANT_KEY. Prints one JSON line as
python_amazon_sp_api.py does.
"""

import json
import logging
import os

from spapi import SPAPIClient, SPAPIConfig
from spapi.auth.lwa_exception import LwaException

logging.disable(logging.CRITICAL)

config = SPAPIConfig(
    client_id=os.environ["CLIENT_ID"],
    client_secret=os.environ["TENANT_KEY"],
    refresh_token=os.environ["SELLER_ID"],
    region="NA",
)
try:
    # The client fetches its token as it is made. (On failure it retries three times, 14 s in
    # all, even after a final answer such as invalid_grant.)
    client = SPAPIClient(config, oauth_endpoint=os.environ["SPVAULT_URL"] + "/auth/o2/token")
    token = client.access_token_cache.get_lwa_access_token()
    info = client.access_token_cache.token_info
    print(json.dumps({"ok": True, "access_token": token, "expires_in": info["expires_in"]}))
except LwaException as err:
    print(json.dumps({"ok": False, "error_type": type(err).__name__, "error": err.error_code,
                      "message": err.error_message}))
