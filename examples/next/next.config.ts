import type { NextConfig } from "next";

const config: NextConfig = {
  // The workspace packages ship TypeScript sources with NodeNext-style `.js` specifiers.
  transpilePackages: ["@oidc-auth/core", "@oidc-auth/next", "@oidc-auth/drizzle"],
  experimental: { extensionAlias: { ".js": [".ts", ".js"] } },
  // Database drivers stay plain Node modules (PGlite loads its WASM from its own folder).
  serverExternalPackages: ["@electric-sql/pglite", "postgres"],
  // `pnpm typecheck` (tsc -b) checks this app; Next's checker does not build the referenced
  // workspace projects, so it would only see their (possibly missing) declarations.
  typescript: { ignoreBuildErrors: true },
  images: { unoptimized: true },
  poweredByHeader: false,
  webpack: (webpackConfig: { module: { rules: unknown[] } }) => {
    // @oidc-auth/drizzle finds its migrations folder at run time with
    // `new URL("../migrations", import.meta.url)`: keep that a URL, not a bundled asset.
    webpackConfig.module.rules.push({
      test: /[\\/]packages[\\/]drizzle[\\/]src[\\/]/,
      parser: { url: false },
    });
    return webpackConfig;
  },
};

export default config;
