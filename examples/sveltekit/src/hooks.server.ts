import { auth } from "./lib/server/auth.js";

// Like the other examples, listen on 127.0.0.1 unless HOST says otherwise (adapter-node's
// default is 0.0.0.0; it reads HOST once the server has loaded this module).
process.env.HOST ??= "127.0.0.1";

// Serves /api/auth/v2/* and sets event.locals.token and event.locals.session; page guards
// send browsers without a session to /api/auth/v2/login and back.
export const handle = auth.handle({ prefix: "/api" });
