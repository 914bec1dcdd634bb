import type { IDToken } from "@oidc-auth/sveltekit";

// The verified bearer token that auth.handle() puts into every request's locals.
declare global {
  namespace App {
    interface Locals {
      token: IDToken | null;
    }
  }
}
