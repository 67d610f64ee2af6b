// Type declarations for the sklambda prediction API client (index.js).

/** One row: values in the model's feature order, or keyed by feature name. */
export type FeatureRow = ReadonlyArray<number | string | null> | Readonly<Record<string, number | string | null>>;

/** A class label as the model reports it (str(label) is used as the probability key). */
export type Label = number | string | boolean;

/** Class label (as a string) -> probability. */
export type Probabilities = Record<string, number>;

export interface PredictResponse {
  /** One prediction per input row; a single-row request still gets a one-element list. */
  prediction: Label[] | number[];
  /** Present only when asked for and the model has predict_proba. */
  probabilities?: Probabilities[];
  model_name: string;
  model_version: string;
}

export interface BatchPredictResponse {
  predictions: Label[] | number[];
  probabilities?: Probabilities[];
  model_name: string;
  model_version: string;
}

export interface FeatureSpec {
  name: string;
  type: 'number' | 'category';
  /** Only for type "category". */
  categories?: Array<string | number>;
}

export interface ModelManifest {
  name: string;
  version: string;
  task: 'classification' | 'regression';
  feature_names: string[];
  features: FeatureSpec[];
  n_features: number;
  classes?: Label[] | null;
  /** Display names, same order as `classes`. */
  class_names?: string[] | null;
  has_predict_proba: boolean;
  /** One example row, in feature order. */
  example?: Array<number | string> | null;
  versions?: Record<string, string>;
  metrics?: Record<string, unknown>;
  sha256?: string;
  created_at?: string;
  max_batch_rows?: number;
  [key: string]: unknown;
}

export interface HealthResponse {
  status: 'ok';
  model_name: string;
  model_version: string;
}

export type ApiErrorKind = 'http' | 'network' | 'timeout' | 'aborted' | 'invalid_response';

export interface ApiErrorInit {
  status: number;
  error: string;
  detail?: unknown;
  requestId?: string | null;
  kind?: ApiErrorKind;
  url?: string | null;
  cause?: unknown;
}

/** Every failure the client reports. status is 0 when no HTTP response could be read (network, CORS, timeout). */
export class ApiError extends Error {
  constructor(init: ApiErrorInit);
  readonly name: 'ApiError';
  readonly status: number;
  /** Human-readable sentence (the API's "error", API Gateway's "message", or a synthesised one). */
  readonly error: string;
  /** Structured detail from the API (e.g. validation errors), or a text snippet for non-JSON bodies. */
  readonly detail: unknown;
  /** The API's request_id, else the x-request-id / apigw-requestid header. */
  readonly requestId: string | null;
  readonly kind: ApiErrorKind;
  readonly url: string | null;
}

export interface ClientOptions {
  /** API base URL, e.g. import.meta.env.VITE_API_URL. Empty or omitted: same origin. */
  baseUrl?: string;
  /** Per-attempt timeout; default 10000. */
  timeoutMs?: number;
  /** Extra attempts after a 429 or 503; default 2. No other status is retried. */
  retries?: number;
  /** First backoff delay, doubled each retry with jitter; default 250. Retry-After wins when present. */
  backoffMs?: number;
  /** Cap on any single backoff delay, including Retry-After; default 5000. */
  maxBackoffMs?: number;
  /** Extra request headers, e.g. { Authorization: 'Bearer ...' }. */
  headers?: Record<string, string>;
  /** fetch implementation; default globalThis.fetch. */
  fetch?: typeof fetch;
  /** Injection points for tests. */
  random?: () => number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

export interface CallOptions {
  signal?: AbortSignal;
}

export interface PredictOptions extends CallOptions {
  returnProbabilities?: boolean;
}

export interface PredictClient {
  readonly baseUrl: string;
  predict(features: FeatureRow, options?: PredictOptions): Promise<PredictResponse>;
  predictBatch(rows: ReadonlyArray<FeatureRow>, options?: PredictOptions): Promise<BatchPredictResponse>;
  model(options?: CallOptions): Promise<ModelManifest>;
  health(options?: CallOptions): Promise<HealthResponse>;
}

export function createClient(options?: ClientOptions): PredictClient;

/** Display name for a class label: the manifest's class_names entry when present, else String(label). */
export function classLabel(manifest: Pick<ModelManifest, 'classes' | 'class_names'> | null | undefined, label: Label): string;
