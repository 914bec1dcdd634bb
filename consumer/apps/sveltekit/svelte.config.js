import adapter from "@sveltejs/adapter-node";

/** @type {import("@sveltejs/kit").Config} */
export default {
  kit: {
    adapter: adapter(),
    // The token endpoint takes form posts from clients that send no Origin (native apps,
    // py-oidc-auth-client), and Kit's origin check cannot exempt one route: auth.handle()
    // applies the same check to every other route instead.
    csrf: { trustedOrigins: ["*"] },
  },
};
