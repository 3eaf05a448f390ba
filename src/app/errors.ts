/**
 * The API error catalogue: every `Code` fleetcmd answers, with its HTTP status and meaning.
 * docs/api.md documents each one; test/unit/errors.test.ts fails when one is missing there.
 */
export const ERROR_CATALOGUE = {
  InvalidParameter: {
    status: 400,
    meaning: 'A field has the wrong type, range or form; the message names it.',
  },
  MissingParameter: { status: 400, meaning: 'A required field is absent; the message names it.' },
  'InvalidParameter.MalformedJson': { status: 400, meaning: 'The request body is not valid JSON.' },
  'InvalidParameter.Frequency': {
    status: 400,
    meaning:
      'Frequency is malformed, out of range, in an unknown time zone, fires more often than FLEETCMD_MIN_INTERVAL_SECONDS, or never fires again; the message names the field.',
  },
  'InvalidParameter.MaxConcurrency': {
    status: 400,
    meaning:
      'MaxConcurrency is not a whole number of nodes (1 and up) or a percentage (1%–100%), or was given on a boot invocation (NextRebootOnly, EveryReboot).',
  },
  'InvalidParameter.MaxErrors': {
    status: 400,
    meaning:
      'MaxErrors is not a whole number of nodes (0 and up) or a percentage (0%–100%), or was given on a boot invocation.',
  },
  'InvalidParameter.Status': {
    status: 400,
    meaning:
      'RerunInvocation: no node of the invocation last ended with one of the statuses in Status.',
  },
  'InvalidCommandContent.Malformed': {
    status: 400,
    meaning: 'CommandContent is not valid Base64 although ContentEncoding is Base64.',
  },
  'InvalidCommandContent.LengthLimitExceeded': {
    status: 400,
    meaning: 'CommandContent is over 24 KiB once Base64-encoded.',
  },
  'InvalidFileContent.Malformed': {
    status: 400,
    meaning: 'SendFile Content is not valid Base64 although ContentType is Base64.',
  },
  'InvalidFileContent.LengthLimitExceeded': {
    status: 400,
    meaning: 'SendFile Content is over 32 KiB once Base64-encoded.',
  },
  'InvalidParameter.ResourceTag': {
    status: 400,
    meaning:
      'ResourceTag matches no registered node (or more than 100,000); nothing is created. The message names the tags.',
  },
  InvalidTagCount: {
    status: 400,
    meaning:
      'TagResources would give a node more than 20 tags (its API-set and agent-reported tags together); no node is changed.',
  },
  'InvalidNodeId.NotFound': {
    status: 400,
    meaning: 'A node in NodeIdList has never registered (or is not a target of the invocation).',
  },
  'InvalidInvokeId.NotFound': { status: 404, meaning: 'No invocation has that InvokeId.' },
  'InvalidCommandId.NotFound': {
    status: 404,
    meaning: 'No saved command has that CommandId (never created, or deleted).',
  },
  'InvalidAction.NotFound': {
    status: 404,
    meaning:
      'The action in the path (or, in the RPC protocol, x-acs-action or Action) is not one fleetcmd knows in that version.',
  },
  InvalidToken: {
    status: 401,
    meaning: 'The Authorization header is missing or holds a wrong bearer token.',
  },
  'Forbidden.Role': {
    status: 403,
    meaning:
      'The token is valid but its role does not allow the action: a read token may call Describe* actions only, and only an admin token the activation actions and DeregisterNodes.',
  },
  Throttling: {
    status: 429,
    meaning:
      'The token (or, without a valid token, the client address) made more than FLEETCMD_RATE_LIMIT requests in the window; Retry-After says how many seconds to wait.',
  },
  IncompleteSignature: {
    status: 400,
    meaning:
      'RPC protocol: the request is not signed, or its signature is malformed or incomplete (no x-acs-date, nonce or content hash, an unsigned x-acs-* header, an unsupported SignatureMethod); the message names what is missing.',
  },
  SignatureDoesNotMatch: {
    status: 400,
    meaning:
      'RPC protocol: the signature is not the one the access key’s secret gives for this request, or x-acs-content-sha256 is not the body’s hash.',
  },
  'InvalidAccessKeyId.NotFound': {
    status: 404,
    meaning: 'RPC protocol: no access key has that AccessKey ID (never issued, or removed).',
  },
  'InvalidTimeStamp.Format': {
    status: 400,
    meaning:
      'RPC protocol: x-acs-date (or Timestamp) is not UTC ISO-8601 such as 2024-01-02T03:04:05Z.',
  },
  'InvalidTimeStamp.Expired': {
    status: 400,
    meaning: 'RPC protocol: the request’s date is more than 15 minutes from the server’s clock.',
  },
  SignatureNonceUsed: {
    status: 400,
    meaning:
      'RPC protocol: this access key already sent a request with that signature nonce within the 15-minute window (a replay).',
  },
  InvalidVersion: {
    status: 400,
    meaning:
      'RPC protocol: the API version is not 2022-12-15 (node dialect) or 2014-05-26 (instance dialect).',
  },
  'InvalidActivationId.NotFound': {
    status: 404,
    meaning: 'No activation has that ActivationId (never created, or deleted).',
  },
  'InvalidActivationCode.Mismatch': {
    status: 403,
    meaning: 'RegisterNode: the ActivationCode is not the activation’s.',
  },
  'Activation.Expired': {
    status: 403,
    meaning: 'RegisterNode: the activation’s TimeToLiveInHours has passed.',
  },
  'Activation.Disabled': {
    status: 403,
    meaning: 'RegisterNode: DisableActivation was called on the activation.',
  },
  'Activation.InstanceCountExceeded': {
    status: 403,
    meaning:
      'RegisterNode: InstanceCount nodes are registered with the activation and not deregistered.',
  },
  'Activation.IpAddressNotAllowed': {
    status: 403,
    meaning: 'RegisterNode: the caller’s address is outside the activation’s IpAddressRange.',
  },
  'InvalidNodeId.Taken': {
    status: 409,
    meaning:
      'RegisterNode: the node id has a Redis user already (registered, or made by `fleetcmd node add`), or a live agent; deregister it first.',
  },
  'InvalidWebhookId.NotFound': {
    status: 404,
    meaning: 'No webhook has that WebhookId (never created, or deleted).',
  },
  'Webhook.LimitExceeded': {
    status: 400,
    meaning: 'CreateWebhook: FLEETCMD_WEBHOOKS_MAX webhooks exist already; delete one first.',
  },
  'Activation.InUse': {
    status: 409,
    meaning:
      'DeleteActivation: nodes registered with the activation remain; deregister them first.',
  },
  IdempotentParameterMismatch: {
    status: 409,
    meaning: 'The ClientToken was already used with a different request.',
  },
  PayloadTooLarge: { status: 413, meaning: 'The request body is over the size limit.' },
  RequestHeaderTooLarge: {
    status: 431,
    meaning:
      'The request line and headers are over 128 KiB (the vendor’s SDKs put every RPC parameter in the query string).',
  },
  ServiceUnavailable: {
    status: 503,
    meaning:
      'Redis cannot be reached right now. Retry later; retry a RunCommand with the same ClientToken, so that it is applied once.',
  },
  InternalError: {
    status: 500,
    meaning: 'An unexpected failure; the server log has the details under the RequestId.',
  },
} as const satisfies Record<string, { status: number; meaning: string }>;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly status: number;

  constructor(code: ErrorCode, message: string) {
    super(message);
    this.name = 'AppError';
    this.code = code;
    this.status = ERROR_CATALOGUE[code].status;
  }
}

/** Turns anything thrown into an AppError; Redis connectivity failures become 503. */
export function coerceError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  if (isRedisUnavailable(err)) {
    return new AppError(
      'ServiceUnavailable',
      'Redis is unreachable; retry later (a RunCommand with the same ClientToken is applied once)',
    );
  }
  return new AppError('InternalError', 'internal error');
}

const REDIS_DOWN_PATTERNS = [
  /enableOfflineQueue/i,
  /Connection is closed/i,
  /ECONNREFUSED/,
  /ECONNRESET/,
  /ETIMEDOUT/,
  /max retries per request/i,
  /Reached the max retries/i,
  /connect ETIMEDOUT/i,
  /LOADING/,
  /Command timed out/i,
  // Redis Cluster: a slot's master is down (CLUSTERDOWN), or a slot is moving (TRYAGAIN).
  /CLUSTERDOWN/,
  /TRYAGAIN/,
  /Failed to refresh slots cache/i,
  /None of startup nodes is available/i,
];

export function isRedisUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  return REDIS_DOWN_PATTERNS.some((p) => p.test(err.message));
}
