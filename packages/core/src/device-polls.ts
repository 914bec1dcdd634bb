import { badRequest } from "./errors.js";
import { ExpiringMap } from "./expiring-set.js";

/**
 * Device codes are accepted in the alphabet IdPs mint them in: URL-safe base64 and the
 * other RFC 3986 unreserved characters (oidc-provider, Keycloak, Auth0…), plus standard
 * base64's `+`, `/` and `=`, 8 to 2048 of them. Anything else (spaces, quotes, control or
 * non-ASCII characters) never left an IdP: refused here without a call.
 */
const DEVICE_CODE = /^[A-Za-z0-9\-._~+/=]{8,2048}$/;

/** RFC 8628 §3.2: the interval a device authorization without one grants. */
const DEFAULT_INTERVAL_SEC = 5;
/** RFC 8628 §3.5: each `slow_down` adds this much to the interval. */
const SLOW_DOWN_STEP_SEC = 5;
/** Network jitter forgiven: a poll may arrive this share of the interval early. */
const JITTER_SHARE = 0.1;
/** How long a device code is remembered when its lifetime is unknown. */
const UNKNOWN_LIFETIME_SEC = 1800;
const MAX_TRACKED = 10_000;

interface PollState {
  /** When the last poll went to the IdP (ms). */
  lastPoll: number;
  intervalSec: number;
  expiresAt: number;
}

/**
 * The device-flow polling rules enforced before the IdP is asked: the device code's
 * alphabet, and the granted interval between polls (RFC 8628 §3.5). A poll sooner than
 * the interval after the previous one gets `slow_down` here, not at the IdP, and raises
 * the interval by 5 s as the IdP would. The first poll of a code is never early. Per
 * instance, in memory, bounded.
 */
export class DevicePolls {
  readonly #polls = new ExpiringMap<PollState>(MAX_TRACKED);

  /** Refuses a device code outside the alphabet (400 invalid_grant). */
  checkCode(deviceCode: string): void {
    if (!DEVICE_CODE.test(deviceCode)) {
      throw badRequest("invalid_grant", "The device code is invalid.");
    }
  }

  /** Remembers the interval and lifetime a device authorization granted. */
  granted(deviceCode: string, intervalSec: number, expiresInSec: number, now = Date.now()): void {
    const expiresAt = now + expiresInSec * 1000;
    this.#polls.take(deviceCode, now);
    this.#polls.add(deviceCode, { lastPoll: 0, intervalSec, expiresAt }, expiresAt, now);
  }

  /**
   * Admits a poll (and records it) or throws `slow_down`. Call before asking the IdP; when
   * the IdP itself answers `slow_down`, call {@link slowedDown}.
   */
  admit(deviceCode: string, now = Date.now()): void {
    const state = this.#polls.take(deviceCode, now) ?? {
      lastPoll: 0,
      intervalSec: DEFAULT_INTERVAL_SEC,
      expiresAt: now + UNKNOWN_LIFETIME_SEC * 1000,
    };
    const early = now - state.lastPoll < state.intervalSec * 1000 * (1 - JITTER_SHARE);
    if (early) state.intervalSec += SLOW_DOWN_STEP_SEC;
    state.lastPoll = now;
    this.#polls.add(deviceCode, state, state.expiresAt, now);
    if (early) throw badRequest("slow_down", "Polling too fast; increase the interval.");
  }

  /** The IdP answered `slow_down`: the interval grows as it told the client. */
  slowedDown(deviceCode: string, now = Date.now()): void {
    const state = this.#polls.take(deviceCode, now);
    if (!state) return;
    state.intervalSec += SLOW_DOWN_STEP_SEC;
    this.#polls.add(deviceCode, state, state.expiresAt, now);
  }
}
