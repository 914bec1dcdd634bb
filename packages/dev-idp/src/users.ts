import { timingSafeEqual } from "node:crypto";

/** A user of the dev IdP. Passwords are plain text on purpose: this is a dev/test-only IdP. */
export interface DevUser {
  /** Stable subject identifier (`sub`), distinct from the username, e.g. "u-alice". */
  sub: string;
  /** Login name; also the `preferred_username` claim. */
  username: string;
  password: string;
  givenName: string;
  familyName: string;
  email: string;
  /** Defaults to true. */
  emailVerified?: boolean;
  /** Keycloak-style realm roles, put in `realm_access.roles`. */
  realmRoles: string[];
  /** Keycloak-style client roles by client id, put in `resource_access[clientId].roles`. */
  clientRoles: Record<string, string[]>;
  /** Keycloak-style group paths, e.g. "/staff". */
  groups: string[];
}

export const DEMO_USERS: DevUser[] = [
  {
    sub: "u-alice",
    username: "alice",
    password: "alice-password",
    givenName: "Alice",
    familyName: "Liddell",
    email: "alice@example.org",
    emailVerified: true,
    realmRoles: ["user", "admin"],
    clientRoles: { "oidc-auth-demo": ["editor"] },
    groups: ["/staff"],
  },
  {
    sub: "u-bob",
    username: "bob",
    password: "bob-password",
    givenName: "Bob",
    familyName: "Builder",
    email: "bob@example.org",
    emailVerified: true,
    realmRoles: ["user"],
    clientRoles: { "oidc-auth-demo": ["viewer"] },
    groups: ["/guests"],
  },
];

/** Lookup of users by username and by sub. */
export class UserDirectory {
  readonly #byUsername = new Map<string, DevUser>();
  readonly #bySub = new Map<string, DevUser>();

  constructor(readonly users: DevUser[]) {
    for (const user of users) {
      if (this.#byUsername.has(user.username)) {
        throw new Error(`dev-idp: duplicate username "${user.username}"`);
      }
      if (this.#bySub.has(user.sub)) {
        throw new Error(`dev-idp: duplicate sub "${user.sub}"`);
      }
      this.#byUsername.set(user.username, user);
      this.#bySub.set(user.sub, user);
    }
  }

  byUsername(username: string): DevUser | undefined {
    return this.#byUsername.get(username);
  }

  bySub(sub: string): DevUser | undefined {
    return this.#bySub.get(sub);
  }

  /** Returns the user when username and password match, otherwise undefined. */
  authenticate(username: string, password: string): DevUser | undefined {
    const user = this.#byUsername.get(username);
    if (!user) return undefined;
    const expected = Buffer.from(user.password, "utf8");
    const actual = Buffer.from(password, "utf8");
    if (expected.length !== actual.length) return undefined;
    return timingSafeEqual(expected, actual) ? user : undefined;
  }
}

/** Standard OIDC claims of a user (ID token / userinfo); oidc-provider masks them by scope. */
export function oidcClaims(user: DevUser): {
  sub: string;
  preferred_username: string;
  name: string;
  given_name: string;
  family_name: string;
  email: string;
  email_verified: boolean;
} {
  return {
    sub: user.sub,
    preferred_username: user.username,
    name: `${user.givenName} ${user.familyName}`,
    given_name: user.givenName,
    family_name: user.familyName,
    email: user.email,
    email_verified: user.emailVerified ?? true,
  };
}

/** Which claims each scope releases (oidc-provider `claims` configuration). */
export const SCOPE_CLAIMS: Record<string, string[]> = {
  openid: ["sub"],
  profile: ["name", "given_name", "family_name", "preferred_username"],
  email: ["email", "email_verified"],
};

/**
 * The Keycloak-shaped claims that go into every JWT access token for this user
 * (in addition to iss, sub, aud, iat, exp, jti, scope, client_id).
 */
export function keycloakClaims(user: DevUser, clientId: string): Record<string, unknown> {
  const resourceAccess: Record<string, { roles: string[] }> = {};
  for (const [client, roles] of Object.entries(user.clientRoles)) {
    if (roles.length > 0) resourceAccess[client] = { roles: [...roles] };
  }
  return {
    preferred_username: user.username,
    name: `${user.givenName} ${user.familyName}`,
    given_name: user.givenName,
    family_name: user.familyName,
    email: user.email,
    email_verified: user.emailVerified ?? true,
    realm_access: { roles: [...user.realmRoles] },
    resource_access: resourceAccess,
    groups: [...user.groups],
    azp: clientId,
  };
}
