#!/usr/bin/env node
// The `oidc-auth-dev-idp` command: starts the dev IdP (dist/cli.js, built from src/cli.ts).
// A committed launcher, so that package managers can link the command before a build.
import "../dist/cli.js";
