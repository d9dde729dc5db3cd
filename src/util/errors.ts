/** Every failure graft reports on purpose is a GraftError with a stable code and a message naming the file/layer/op at fault. */
export type ErrorCode =
  | 'BAD_ARGUMENT'
  | 'IMAGE_DECODE'
  | 'FILE_NOT_FOUND'
  | 'MODEL_NOT_FOUND'
  | 'MODEL_FORMAT'
  | 'UNSUPPORTED_LAYER'
  | 'UNSUPPORTED_OP'
  | 'UNKNOWN_TENSOR'
  | 'UNKNOWN_LAYER'
  | 'UNKNOWN_CLASS'
  | 'SHAPE'
  | 'DOWNLOAD'
  | 'CHECKSUM'
  | 'DATASET'
  | 'RUNTIME'
  | 'CHECKPOINT';

export class GraftError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'GraftError';
    this.code = code;
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
