/**
 * The platform's error codes. Each has one HTTP status and says whether retrying
 * the same request may succeed. docs/http-api.md lists them.
 */
export const ErrorCodes = {
  BAD_REQUEST: { status: 400, retryable: false },
  INVALID_JSON: { status: 400, retryable: false },
  INVALID_RUN_ID: { status: 400, retryable: false },
  UNAUTHENTICATED: { status: 401, retryable: false },
  TOKEN_EXPIRED: { status: 401, retryable: false },
  FORBIDDEN: { status: 403, retryable: false },
  NOT_FOUND: { status: 404, retryable: false },
  RUN_NOT_FOUND: { status: 404, retryable: false },
  PAYLOAD_TOO_LARGE: { status: 413, retryable: false },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, retryable: false },
  METHOD_NOT_ALLOWED: { status: 405, retryable: false },
  REQUEST_TIMEOUT: { status: 408, retryable: true },
  CONFLICT: { status: 409, retryable: false },
  RATE_LIMITED: { status: 429, retryable: true },
  HEADERS_TOO_LARGE: { status: 431, retryable: false },
  UNAVAILABLE: { status: 503, retryable: true },
  INTERNAL: { status: 500, retryable: true },
} as const;

export type ErrorCode = keyof typeof ErrorCodes;

export class ChuteError extends Error {
  override readonly name = 'ChuteError';
  readonly status: number;
  readonly retryable: boolean;
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
    this.status = ErrorCodes[code].status;
    this.retryable = ErrorCodes[code].retryable;
  }

  toJSON(): { code: ErrorCode; message: string } {
    return { code: this.code, message: this.message };
  }
}
