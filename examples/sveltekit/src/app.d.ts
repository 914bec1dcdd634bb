import type { BrowserSession, IDToken } from "@oidc-auth/sveltekit";

// What auth.handle() puts into every request's locals.
declare global {
  namespace App {
    interface Locals {
      /** The verified token: the bearer token's, else the session cookie's; null for none. */
      token: IDToken | null;
      /** The browser session (its user and CSRF token), or null. */
      session: BrowserSession | null;
    }
  }
}
