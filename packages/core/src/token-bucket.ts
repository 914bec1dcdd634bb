/**
 * Token-bucket arithmetic shared by every place that keeps buckets (the in-process limiter,
 * the memory store); the Drizzle store does the same in one SQL statement. Times are unix
 * seconds with fractions.
 */

/** A token bucket: up to `capacity` requests at once, refilled at `refillPerSec` tokens a second. */
export interface TokenBucketLimit {
  capacity: number;
  refillPerSec: number;
}

/** A bucket as kept: tokens left after the last take, and when that was. */
export interface TokenBucketState {
  tokens: number;
  updatedAt: number;
}

/** The outcome of one take: whether a token was taken, and the tokens left afterwards. */
export interface TokenTaken {
  allowed: boolean;
  tokens: number;
}

/**
 * Refills `bucket` up to `now` (a missing bucket is full) and takes one token if there is
 * one. A clock that went backwards (another instance's) adds nothing.
 */
export function takeToken(
  bucket: TokenBucketState | undefined,
  limit: TokenBucketLimit,
  now: number,
): { state: TokenBucketState; taken: TokenTaken } {
  const refilled = bucket
    ? Math.min(
        limit.capacity,
        bucket.tokens + Math.max(0, now - bucket.updatedAt) * limit.refillPerSec,
      )
    : limit.capacity;
  const allowed = refilled >= 1;
  const tokens = allowed ? refilled - 1 : refilled;
  const updatedAt = bucket ? Math.max(bucket.updatedAt, now) : now;
  return { state: { tokens, updatedAt }, taken: { allowed, tokens } };
}

/** When a bucket is full again, i.e. no different from a missing one (and can be dropped). */
export function fullAt(state: TokenBucketState, limit: TokenBucketLimit): number {
  return state.updatedAt + (limit.capacity - state.tokens) / limit.refillPerSec;
}

/** Whole seconds until a refused bucket holds one token again (at least 1): `Retry-After`. */
export function retryAfterSec(tokensLeft: number, limit: TokenBucketLimit): number {
  return Math.max(1, Math.ceil((1 - tokensLeft) / limit.refillPerSec));
}
