export { driveAuthorization as completeLoginAt } from "./automation.js";
export { DEMO_CLIENTS, type DevClient, isLoopbackHttpUri } from "./clients.js";
export {
  DEV_IDP_RESOURCE,
  type DevIdp,
  type DevIdpOptions,
  RESOURCE_SCOPES,
  startDevIdp,
} from "./provider.js";
export { DEMO_USERS, type DevUser } from "./users.js";
