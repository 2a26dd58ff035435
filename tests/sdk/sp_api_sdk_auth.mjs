// Gets a seller's token from spvault through npm `@sp-api-sdk/auth`, unmodified.
//
// The package posts to a hard-coded LWA URL from a private axios instance; its documented way
// in is to subclass `SellingPartnerApiAuth` and override `getAccessToken()`. The subclass below
// keeps the package's own behaviour (JSON body, caching for exactly `expires_in`, one request for
// concurrent callers, `SellingPartnerApiAuthError` on failure) and changes only where the token
// request goes.
//
// Environment: SPVAULT_URL, SELLER_ID, CLIENT_ID, TENANT_KEY. Prints one JSON line.
import axios, { AxiosError } from "axios";
import { SellingPartnerApiAuth, SellingPartnerApiAuthError } from "@sp-api-sdk/auth";

class VaultSellingPartnerApiAuth extends SellingPartnerApiAuth {
  #token;
  #expiration;
  #pending;

  constructor(parameters, tokenUrl) {
    super(parameters);
    this.tokenUrl = tokenUrl;
  }

  async #refresh() {
    const body = {
      client_id: this.clientId,
      client_secret: this.clientSecret,
      ...(this.refreshToken
        ? { grant_type: "refresh_token", refresh_token: this.refreshToken }
        : { grant_type: "client_credentials", scope: this.scopes.join(" ") }),
    };
    try {
      const expiration = new Date();
      const { data } = await axios.post(this.tokenUrl, body, { timeout: 30_000 });
      expiration.setSeconds(expiration.getSeconds() + data.expires_in);
      this.#token = data.access_token;
      this.#expiration = expiration;
      return data.access_token;
    } catch (error) {
      if (error instanceof AxiosError) throw new SellingPartnerApiAuthError(error);
      throw error;
    }
  }

  async getAccessToken() {
    if (this.#token && Date.now() < this.#expiration.getTime()) return this.#token;
    this.#pending ??= this.#refresh().finally(() => { this.#pending = undefined; });
    return this.#pending;
  }

  get accessTokenExpiration() {
    return this.#expiration;
  }
}

const auth = new VaultSellingPartnerApiAuth(
  {
    clientId: process.env.CLIENT_ID,
    clientSecret: process.env.TENANT_KEY,
    refreshToken: process.env.SELLER_ID,
  },
  `${process.env.SPVAULT_URL}/auth/o2/token`,
);
try {
  const token = await auth.getAccessToken();
  const expiresIn = Math.round((auth.accessTokenExpiration.getTime() - Date.now()) / 1000);
  console.log(JSON.stringify({ ok: true, access_token: token, expires_in: expiresIn }));
} catch (error) {
  console.log(JSON.stringify({
    ok: false,
    error_type: error.constructor.name,
    error: error.response?.data?.error,
    message: error.message,
    status: error.response?.status,
  }));
}
