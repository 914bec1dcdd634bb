import type { BrowserSession, IDToken } from "@oidc-auth/sveltekit";

declare global {
  namespace App {
    interface Locals {
      token: IDToken | null; // set by auth.handle(): the bearer token's or the session's
      session: BrowserSession | null; // set by auth.handle(): the session cookie's
    }
  }
}
