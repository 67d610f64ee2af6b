// Type declarations for the sklambda prediction API client (index.js).

/** One row: values in the model's feature order, or keyed by feature name. */
export type FeatureRow = ReadonlyArray<number | string | null> | Readonly<Record<string, number | string | null>>;

/** A class label as the model reports it (str(label) is used as the probability key). */
export type Label = number | string | boolean;

/** Class label (as a string) -> probability. */
export type Probabilities = Record<string, number>;

/** What the model does (GET /model's `task`), which fixes the shape of each row's prediction. */
export type TaskKind =
  | 'classification'
  | 'regression'
  | 'multioutput_classification'
  | 'multioutput_regression'
  | 'clustering'
  | 'outlier_detection';

/**
 * One row's prediction: a class (classification), a number (regression), an integer cluster (clustering),
 * 1 for an inlier or -1 for an outlier (outlier_detection), or one of these per output (multioutput_*).
 */
export type Prediction = Label | Label[];

/** One row's probabilities: per class, or for multioutput_classification one such object per output. */
export type RowProbabilities = Probabilities | Probabilities[];

export interface PredictResponse {
  /** One prediction per input row; a single-row request still gets a one-element list. */
  prediction: Prediction[];
  /** Present only when asked for and the model has predict_proba. */
  probabilities?: RowProbabilities[];
  model_name: string;
  model_version: string;
}

export interface BatchPredictResponse {
  predictions: Prediction[];
  probabilities?: RowProbabilities[];
  model_name: string;
  model_version: string;
}

/** number: a JSON number; category: one of `categories` (any value when accepts_unknown); text: a string. */
export type FeatureType = 'number' | 'category' | 'text';

export interface FeatureSpec {
  name: string;
  type: FeatureType;
  /** Only for type "category": the values the model knows (strings, or numbers when fitted on numbers). */
  categories?: Array<string | number | boolean> | null;
  /** Category only: values outside `categories` are accepted too. */
  accepts_unknown?: boolean;
  /** null is accepted (a missing value). */
  nullable?: boolean;
  /** Number only: [min, max] seen in training, when known. */
  range?: [number, number] | null;
}

export interface ModelManifest {
  name: string;
  version: string;
  task: TaskKind;
  feature_names: string[];
  features: FeatureSpec[];
  n_features: number;
  /** classification: the classes; multioutput_classification: one list per output. */
  classes?: Label[] | Label[][] | null;
  /** Display names, same order as `classes` (classification only). */
  class_names?: string[] | null;
  /** multioutput_*: the name of each output, in the order of each row's predictions. */
  outputs?: string[] | null;
  /** "text": one string per row; "table": values in feature order. */
  input_layout?: 'table' | 'text';
  has_predict_proba: boolean;
  /** One example row, in feature order (null where a feature is nullable). */
  example?: Array<number | string | null> | null;
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
export function classLabel(
  manifest: Pick<ModelManifest, 'classes' | 'class_names'> | null | undefined,
  label: Label,
): string;

/**
 * One row's prediction in words for the manifest's task: the class name, the number, "cluster N",
 * "outlier" / "inlier", or "output: value, ..." for the multi-output tasks.
 */
export function predictionText(
  manifest: Pick<ModelManifest, 'task' | 'classes' | 'class_names' | 'outputs'> | null | undefined,
  prediction: Prediction,
): string;
