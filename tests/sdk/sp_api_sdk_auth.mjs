// Gets a seller's access token from spvault through npm `@sp-api-sdk/auth` (3.1.4), unmodified.
//
// The package posts to a hard-coded LWA URL (https://api.amazon.com/auth/ + o2/token) from a
// private axios instance, inside a private method; its documented way in is to subclass
// `SellingPartnerApiAuth` and override `getAccessToken()`. The subclass below is the package's
// own code for that (dist/index.js of 3.1.4), with only the URL changed: the same JSON body, the
// same axios settings (30 s timeout, the user-agent the package computes), the same caching (for
// exactly `expires_in`, counted from when the request started), one request for concurrent
// callers, and the package's own `SellingPartnerApiAuthError` on failure.
//
// Run:  node tests/sdk/sp_api_sdk_auth.mjs VAULT_URL SELLER_ID CLIENT_ID TENANT_KEY
// or with no arguments and the environment variables SPVAULT_URL, SELLER_ID, CLIENT_ID,
// TENANT_KEY (meanings as in python_amazon_sp_api.py). The package is loaded from the
// node_modules next to this file if there is one, else from tests/sdk/.cache/node (install.sh);
// SPVAULT_SDK_NODE_DIR overrides that.
//
// Prints one JSON line and exits 0:
//   {"ok": true, "access_token": "...", "expires_in": N}   (N: what the SDK's cache will allow)
//   {"ok": false, "error_type": "SellingPartnerApiAuthError", "error": "<LWA error>", "message": "...", "status": N}
// Exits 2 for bad usage; any other non-zero exit is a crash.
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const nodeDir =
  process.env.SPVAULT_SDK_NODE_DIR ??
  (existsSync(join(here, "node_modules")) ? here : join(here, ".cache", "node"));
// One resolution for the package and the axios it uses, so that AxiosError is the same class.
const require = createRequire(join(nodeDir, "package.json"));
const { SellingPartnerApiAuth, SellingPartnerApiAuthError } = require("@sp-api-sdk/auth");
const axios = require("axios");
const { sync: readPackageUp } = require("read-pkg-up");

// --- what a user adds: the package's token request, sent to the vault ---------------------------
// As the package computes it: the package.json nearest the working directory names the agent.
const packageJson = readPackageUp()?.packageJson ?? { name: "@sp-api-sdk/auth", version: "unknown" };

class VaultSellingPartnerApiAuth extends SellingPartnerApiAuth {
  #http;
  #accessToken;
  #accessTokenExpiration;
  #pendingTokenRequest;

  constructor(parameters, tokenUrl) {
    super(parameters);
    this.tokenUrl = tokenUrl; // e.g. "https://vault.example.com/auth/o2/token"
    this.#http = axios.create({
      timeout: 30_000,
      headers: { "user-agent": `${packageJson.name}/${packageJson.version}` },
    });
  }

  async #refreshAccessToken() {
    const body = {
      client_id: this.clientId,
      client_secret: this.clientSecret,
      ...(this.refreshToken
        ? { grant_type: "refresh_token", refresh_token: this.refreshToken }
        : { grant_type: "client_credentials", scope: this.scopes.join(" ") }),
    };
    try {
      const expiration = new Date();
      const { data } = await this.#http.post(this.tokenUrl, body);
      expiration.setSeconds(expiration.getSeconds() + data.expires_in);
      this.#accessToken = data.access_token;
      this.#accessTokenExpiration = expiration;
      return data.access_token;
    } catch (error) {
      if (error instanceof axios.AxiosError) throw new SellingPartnerApiAuthError(error);
      throw error;
    }
  }

  async getAccessToken() {
    if (
      this.#accessToken &&
      (!this.#accessTokenExpiration || Date.now() < this.#accessTokenExpiration.getTime())
    )
      return this.#accessToken;
    if (this.#pendingTokenRequest) return this.#pendingTokenRequest;
    this.#pendingTokenRequest = this.#refreshAccessToken();
    try {
      return await this.#pendingTokenRequest;
    } finally {
      this.#pendingTokenRequest = undefined;
    }
  }

  get accessTokenExpiration() {
    return this.#accessTokenExpiration;
  }
}
// -------------------------------------------------------------------------------------------------

const NAMES = ["SPVAULT_URL", "SELLER_ID", "CLIENT_ID", "TENANT_KEY"];
const argv = process.argv.slice(2);
const args = argv.length ? argv : NAMES.map((name) => process.env[name] ?? "");
if (args.length !== 4 || !args.every(Boolean)) {
  console.error(
    `usage: node sp_api_sdk_auth.mjs VAULT_URL SELLER_ID CLIENT_ID TENANT_KEY (or set ${NAMES.join(", ")})`,
  );
  process.exit(2);
}
const [vaultUrl, sellerId, clientId, tenantKey] = args;

const auth = new VaultSellingPartnerApiAuth(
  { clientId, clientSecret: tenantKey, refreshToken: sellerId },
  `${vaultUrl.replace(/\/+$/, "")}/auth/o2/token`,
);
try {
  const token = await auth.getAccessToken();
  const expiresIn = Math.round((auth.accessTokenExpiration.getTime() - Date.now()) / 1000);
  console.log(JSON.stringify({ ok: true, access_token: token, expires_in: expiresIn }));
} catch (error) {
  console.log(
    JSON.stringify({
      ok: false,
      error_type: error.constructor.name,
      error: error.response?.data?.error ?? null,
      message: error.message,
      status: error.response?.status ?? null,
    }),
  );
}
