/**
 * The demo page: log in through the IdP, see the token's claims, call protected routes,
 * refresh, start a device login, log out. Plain HTML and a little script; every value is
 * written with textContent (no HTML injection from claims).
 */
export declare function demoPage(): string;
