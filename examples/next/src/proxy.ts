import { auth } from "@/lib/auth";

// Before a page renders: renews a passthrough session cookie that is about to expire (server
// components cannot set cookies) and records the page's path for the login's return_to.
// It refuses nothing: pages check the session themselves (auth.requireSession()).
export const proxy = auth.proxy();

export const config = { matcher: ["/((?!api/|_next/static|_next/image|favicon.ico).*)"] };
