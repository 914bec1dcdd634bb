import type { IncomingMessage, ServerResponse } from "node:http";
import type { Interaction, InteractionResults, Provider } from "oidc-provider";
import type { DevClient } from "./clients.js";
import { errorPage, loginPage } from "./pages.js";
import type { UserDirectory } from "./users.js";

const MAX_BODY = 64 * 1024;

export async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buffer = typeof chunk === "string" ? Buffer.from(chunk) : (chunk as Buffer);
    size += buffer.length;
    if (size > MAX_BODY) throw new Error("request body too large");
    chunks.push(buffer);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString("utf8"));
}

export function sendHtml(res: ServerResponse, status: number, html: string): void {
  res.statusCode = status;
  res.setHeader("content-type", "text/html; charset=utf-8");
  res.setHeader("cache-control", "no-store");
  res.end(html);
}

export interface InteractionDeps {
  provider: Provider;
  users: UserDirectory;
  clients: DevClient[];
  /** show the demo credentials on the login page */
  showHints: boolean;
}

function stringArray(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === "string") : [];
}

/** Grants everything the consent prompt says is missing, without asking. */
async function autoConsent(
  deps: InteractionDeps,
  interaction: Interaction,
): Promise<InteractionResults> {
  const { provider } = deps;
  const accountId = interaction.session?.accountId;
  const clientId = interaction.params.client_id;
  if (!accountId || typeof clientId !== "string") {
    return { error: "access_denied", error_description: "no authenticated session for consent" };
  }
  let grant = interaction.grantId ? await provider.Grant.find(interaction.grantId) : undefined;
  grant ??= new provider.Grant({ accountId, clientId });
  const details = interaction.prompt.details;
  const scopes = stringArray(details.missingOIDCScope);
  if (scopes.length) grant.addOIDCScope(scopes.join(" "));
  const claims = stringArray(details.missingOIDCClaims);
  if (claims.length) grant.addOIDCClaims(claims);
  const resourceScopes = details.missingResourceScopes;
  if (resourceScopes && typeof resourceScopes === "object") {
    for (const [indicator, value] of Object.entries(resourceScopes)) {
      const list = stringArray(value);
      if (list.length) grant.addResourceScope(indicator, list.join(" "));
    }
  }
  const grantId = await grant.save();
  return { consent: { grantId } };
}

/**
 * Handles the interaction routes (/interaction/:uid, /interaction/:uid/login,
 * /interaction/:uid/abort). Returns false when the path is not an interaction route.
 */
export async function handleInteraction(
  deps: InteractionDeps,
  req: IncomingMessage,
  res: ServerResponse,
  pathname: string,
): Promise<boolean> {
  const match = /^\/interaction\/([^/]+)(?:\/(login|abort))?\/?$/.exec(pathname);
  if (!match) return false;
  const uid = decodeURIComponent(match[1] ?? "");
  const action = match[2];
  const { provider, users } = deps;

  let interaction: Interaction;
  try {
    interaction = await provider.interactionDetails(req, res);
  } catch (error) {
    sendHtml(
      res,
      400,
      errorPage("Sign-in session not found", {
        error: "invalid_request",
        error_description: `${(error as Error).message} (the sign-in link expired or cookies are disabled; start again from the application)`,
      }),
    );
    return true;
  }
  if (interaction.uid !== uid) {
    sendHtml(
      res,
      400,
      errorPage("Sign-in session mismatch", {
        error: "invalid_request",
        error_description: "interaction cookie does not match the URL",
      }),
    );
    return true;
  }

  const clientId =
    typeof interaction.params.client_id === "string" ? interaction.params.client_id : "";
  const client = deps.clients.find((c) => c.clientId === clientId);
  const clientName = client?.clientName ?? clientId;
  const scope = typeof interaction.params.scope === "string" ? interaction.params.scope : undefined;
  const hints = deps.showHints
    ? users.users.map((u) => ({ username: u.username, password: u.password }))
    : [];

  if (req.method === "GET" && !action) {
    if (interaction.prompt.name === "login") {
      const loginHint = interaction.params.login_hint;
      sendHtml(
        res,
        200,
        loginPage({
          uid,
          clientName,
          scope,
          hints,
          username: typeof loginHint === "string" ? loginHint : undefined,
        }),
      );
      return true;
    }
    if (interaction.prompt.name === "consent") {
      const result = await autoConsent(deps, interaction);
      await provider.interactionFinished(req, res, result, { mergeWithLastSubmission: true });
      return true;
    }
    await provider.interactionFinished(
      req,
      res,
      {
        error: "access_denied",
        error_description: `unsupported prompt ${interaction.prompt.name}`,
      },
      { mergeWithLastSubmission: false },
    );
    return true;
  }

  if (req.method === "POST" && action === "login") {
    const form = await readForm(req);
    const username = form.get("username") ?? "";
    const password = form.get("password") ?? "";
    const user = users.authenticate(username, password);
    if (!user) {
      sendHtml(
        res,
        401,
        loginPage({
          uid,
          clientName,
          scope,
          hints,
          username,
          error: "Invalid username or password.",
        }),
      );
      return true;
    }
    await provider.interactionFinished(
      req,
      res,
      { login: { accountId: user.sub, amr: ["pwd"], remember: false } },
      { mergeWithLastSubmission: false },
    );
    return true;
  }

  if (req.method === "POST" && action === "abort") {
    await provider.interactionFinished(
      req,
      res,
      { error: "access_denied", error_description: "End-User aborted interaction" },
      { mergeWithLastSubmission: false },
    );
    return true;
  }

  res.statusCode = 405;
  res.setHeader("allow", action ? "POST" : "GET");
  res.end();
  return true;
}
