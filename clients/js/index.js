// Dependency-free ES module client for the sklambda prediction API.
// Works in browsers and in Node >= 18 (global fetch, AbortController).

/** Statuses worth retrying: throttling (API Gateway 429) and "not ready / overloaded" (503, cold start). */
const RETRYABLE_STATUSES = new Set([429, 503]);

const DEFAULTS = Object.freeze({
  timeoutMs: 10_000,
  retries: 2,
  backoffMs: 250,
  maxBackoffMs: 5_000,
});

/**
 * Every failure the client reports. `status` is the HTTP status, or 0 when no HTTP response was read
 * (network failure, CORS block, timeout, abort): a browser deliberately hides why a cross-origin call failed,
 * so `kind` is the most the page can know.
 */
export class ApiError extends Error {
  constructor({ status, error, detail = null, requestId = null, kind = 'http', url = null, cause }) {
    super(error, cause === undefined ? undefined : { cause });
    this.name = 'ApiError';
    this.status = status;
    this.error = error;
    this.detail = detail;
    this.requestId = requestId;
    this.kind = kind;
    this.url = url;
  }
}

/** Resolve a base URL: trailing slashes are dropped so `base + '/predict'` never doubles them. */
function normaliseBaseUrl(baseUrl) {
  if (baseUrl === undefined || baseUrl === null) return '';
  if (typeof baseUrl !== 'string') throw new TypeError('baseUrl must be a string');
  return baseUrl.replace(/\/+$/, '');
}

function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    function onAbort() {
      clearTimeout(timer);
      reject(signal.reason);
    }
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Retry-After is either delta-seconds or an HTTP date (RFC 9110 §10.2.3). */
function parseRetryAfter(value, now = Date.now()) {
  if (!value) return null;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? null : Math.max(0, date - now);
}

async function readJson(response) {
  const text = await response.text();
  if (text === '') return { ok: false, text };
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false, text };
  }
}

async function toApiError(response, url) {
  const body = await readJson(response);
  const headerId = response.headers.get('x-request-id') ?? response.headers.get('apigw-requestid');
  if (body.ok && body.value && typeof body.value === 'object') {
    const value = body.value;
    // Our API says {"error": ...}; API Gateway's own 429/503/403 bodies say {"message": ...}.
    const message = value.error ?? value.message ?? `HTTP ${response.status}`;
    return new ApiError({
      status: response.status,
      error: String(message),
      detail: value.detail ?? null,
      requestId: value.request_id ?? headerId,
      url,
    });
  }
  // A proxy or load balancer in front of the API may answer with text or HTML.
  const snippet = body.text ? body.text.slice(0, 200) : null;
  return new ApiError({
    status: response.status,
    error: `HTTP ${response.status}${response.statusText ? ' ' + response.statusText : ''}`,
    detail: snippet,
    requestId: headerId,
    url,
  });
}

/**
 * Create a client bound to one API base URL.
 * @param {import('./index').ClientOptions} [options]
 * @returns {import('./index').PredictClient}
 */
export function createClient(options = {}) {
  const baseUrl = normaliseBaseUrl(options.baseUrl);
  const timeoutMs = options.timeoutMs ?? DEFAULTS.timeoutMs;
  const retries = options.retries ?? DEFAULTS.retries;
  const backoffMs = options.backoffMs ?? DEFAULTS.backoffMs;
  const maxBackoffMs = options.maxBackoffMs ?? DEFAULTS.maxBackoffMs;
  const extraHeaders = options.headers ?? {};
  const fetchImpl = options.fetch ?? globalThis.fetch;
  const random = options.random ?? Math.random;
  const wait = options.sleep ?? sleep;
  if (typeof fetchImpl !== 'function') throw new TypeError('No fetch implementation available');

  async function attempt(method, path, body, signal) {
    const url = baseUrl + path;
    if (signal?.aborted) {
      throw new ApiError({ status: 0, kind: 'aborted', error: 'The request was cancelled.', url, cause: signal.reason });
    }
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, timeoutMs);
    const forwardAbort = () => controller.abort(signal.reason);
    signal?.addEventListener('abort', forwardAbort, { once: true });
    // Only send Content-Type when there is a body: a GET without it stays a CORS "simple request" (no preflight).
    const headers = { Accept: 'application/json', ...extraHeaders };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    try {
      let response;
      try {
        response = await fetchImpl(url, {
          method,
          headers,
          body: body === undefined ? undefined : JSON.stringify(body),
          signal: controller.signal,
        });
      } catch (cause) {
        if (timedOut) {
          throw new ApiError({
            status: 0,
            kind: 'timeout',
            error: `The API did not answer within ${timeoutMs} ms (${method} ${url}).`,
            url,
            cause,
          });
        }
        if (signal?.aborted) {
          throw new ApiError({ status: 0, kind: 'aborted', error: 'The request was cancelled.', url, cause });
        }
        throw new ApiError({
          status: 0,
          kind: 'network',
          error:
            `Could not reach the API at ${baseUrl || 'this origin'}: the server is down or the browser blocked ` +
            'the request (CORS). If the API is running, check that its CORS_ALLOW_ORIGINS includes this page\'s origin.',
          url,
          cause,
        });
      }
      if (!response.ok) return { error: await toApiError(response, url), response };
      const parsed = await readJson(response);
      if (!parsed.ok) {
        throw new ApiError({
          status: response.status,
          kind: 'invalid_response',
          error: `The API answered ${response.status} but the body is not JSON.`,
          detail: parsed.text ? parsed.text.slice(0, 200) : null,
          requestId: response.headers.get('x-request-id'),
          url,
        });
      }
      return { value: parsed.value };
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', forwardAbort);
    }
  }

  async function request(method, path, body, callOptions = {}) {
    const signal = callOptions.signal;
    for (let attemptNo = 0; ; attemptNo += 1) {
      const result = await attempt(method, path, body, signal);
      if (!result.error) return result.value;
      const { error, response } = result;
      if (!RETRYABLE_STATUSES.has(error.status) || attemptNo >= retries) throw error;
      // Full jitter so that many browsers throttled at once do not retry in lockstep.
      const exponential = Math.min(maxBackoffMs, backoffMs * 2 ** attemptNo);
      const retryAfter = parseRetryAfter(response.headers.get('retry-after'));
      const delay = retryAfter !== null ? Math.min(maxBackoffMs, retryAfter) : exponential * (0.5 + random() / 2);
      try {
        await wait(delay, signal);
      } catch (cause) {
        throw new ApiError({ status: 0, kind: 'aborted', error: 'The request was cancelled.', url: error.url, cause });
      }
    }
  }

  return {
    baseUrl,
    predict(features, { returnProbabilities = false, signal } = {}) {
      const body = { features };
      if (returnProbabilities) body.return_probabilities = true;
      return request('POST', '/predict', body, { signal });
    },
    predictBatch(rows, { returnProbabilities = false, signal } = {}) {
      const body = { instances: rows };
      if (returnProbabilities) body.return_probabilities = true;
      return request('POST', '/predict', body, { signal });
    },
    model({ signal } = {}) {
      return request('GET', '/model', undefined, { signal });
    },
    health({ signal } = {}) {
      return request('GET', '/health', undefined, { signal });
    },
  };
}

/** Display name for a class label: manifest class_names when present, else the label itself. */
export function classLabel(manifest, label) {
  const index = manifest?.classes?.findIndex((c) => String(c) === String(label)) ?? -1;
  const names = manifest?.class_names;
  return index >= 0 && Array.isArray(names) && names[index] != null ? String(names[index]) : String(label);
}

/**
 * One row's prediction in words, for the manifest's task: the class name (classification), the number
 * (regression), "cluster N" (clustering), "outlier" / "inlier" (outlier_detection), or "output: value" for each
 * output of a multi-output model.
 */
export function predictionText(manifest, prediction) {
  switch (manifest?.task) {
    case 'classification':
      return classLabel(manifest, prediction);
    case 'clustering':
      return `cluster ${String(prediction)}`;
    case 'outlier_detection':
      return prediction === -1 ? 'outlier' : 'inlier';
    case 'multioutput_classification':
    case 'multioutput_regression': {
      const values = Array.isArray(prediction) ? prediction : [prediction];
      const outputs = manifest.outputs ?? [];
      return values.map((value, i) => `${outputs[i] ?? `output ${i}`}: ${String(value)}`).join(', ');
    }
    default:
      return String(prediction);
  }
}
