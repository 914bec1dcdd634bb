import { auth } from "@/lib/auth";

// /api/auth/v2/login, callback, token, device, logout, userinfo, .well-known/jwks.json
export const { GET, POST } = auth.handlers();
