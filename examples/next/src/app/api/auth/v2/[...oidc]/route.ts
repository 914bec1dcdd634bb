import { auth } from "@/lib/auth";

export const dynamic = "force-dynamic";

// login, callback, token, device, logout, userinfo, .well-known/jwks.json under /api/auth/v2
export const { GET, POST } = auth.handlers();
