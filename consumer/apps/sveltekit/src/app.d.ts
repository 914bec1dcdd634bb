import type { IDToken } from "@oidc-auth/sveltekit";

declare global {
  namespace App {
    interface Locals {
      token: IDToken | null; // set by auth.handle() on every request
    }
  }
}
