export {
  createIdpBrowser,
  driveAuthorization as completeLoginAt,
  driveIdpSessionEnd as endIdpSessionAt,
  type IdpBrowser,
} from "./automation.js";
export { DEMO_CLIENTS, type DevClient, isLoopbackHttpUri } from "./clients.js";
export { DEV_IDP_ENV, devIdpOptionsFromEnv } from "./env.js";
export {
  DEV_IDP_RESOURCE,
  type DevIdp,
  type DevIdpOptions,
  RESOURCE_SCOPES,
  startDevIdp,
} from "./provider.js";
export { DEMO_USERS, type DevUser } from "./users.js";
