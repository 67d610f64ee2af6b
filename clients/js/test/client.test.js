// Unit tests against a fake fetch: they pin the wire format and the error/retry/timeout behaviour.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { ApiError, classLabel, createClient, predictionText } from '../index.js';

const OK_BODY = { prediction: [0], model_name: 'iris-demo', model_version: '1.0.0' };

function json(status, body, headers = {}) {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json', ...headers },
  });
}

/** A fetch that answers from a queue of responders and records every call. */
function fakeFetch(...responders) {
  const calls = [];
  const impl = async (url, init) => {
    calls.push({ url, init, body: init.body === undefined ? undefined : JSON.parse(init.body) });
    const next = responders.length > 1 ? responders.shift() : responders[0];
    return typeof next === 'function' ? next(url, init) : next.clone();
  };
  impl.calls = calls;
  return impl;
}

function recordingSleep() {
  const delays = [];
  const sleep = async (ms) => {
    delays.push(ms);
  };
  sleep.delays = delays;
  return sleep;
}

async function rejectsWith(promise) {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  assert.fail('expected the promise to reject');
}

describe('requests', () => {
  it('predict posts {features} as JSON to <base>/predict and returns the body', async () => {
    const fetch = fakeFetch(json(200, OK_BODY));
    const client = createClient({ baseUrl: 'http://api.test:3000', fetch });

    const result = await client.predict([5.1, 3.5, 1.4, 0.2]);

    assert.deepEqual(result, OK_BODY);
    assert.equal(fetch.calls.length, 1);
    const [call] = fetch.calls;
    assert.equal(call.url, 'http://api.test:3000/predict');
    assert.equal(call.init.method, 'POST');
    assert.equal(call.init.headers['Content-Type'], 'application/json');
    assert.deepEqual(call.body, { features: [5.1, 3.5, 1.4, 0.2] });
  });

  it('predict sends named features and return_probabilities only when asked', async () => {
    const fetch = fakeFetch(json(200, OK_BODY));
    const client = createClient({ baseUrl: 'http://api.test', fetch });
    const named = { sepal_length: 5.1, sepal_width: 3.5, petal_length: 1.4, petal_width: 0.2 };

    await client.predict(named, { returnProbabilities: true });
    await client.predict(named);

    assert.deepEqual(fetch.calls[0].body, { features: named, return_probabilities: true });
    assert.deepEqual(fetch.calls[1].body, { features: named });
  });

  it('predictBatch posts {instances}', async () => {
    const batch = { predictions: [0, 2], model_name: 'iris-demo', model_version: '1.0.0' };
    const fetch = fakeFetch(json(200, batch));
    const client = createClient({ baseUrl: 'http://api.test', fetch });
    const rows = [
      [5.1, 3.5, 1.4, 0.2],
      [6.7, 3.0, 5.2, 2.3],
    ];

    assert.deepEqual(await client.predictBatch(rows, { returnProbabilities: true }), batch);
    assert.deepEqual(fetch.calls[0].body, { instances: rows, return_probabilities: true });
  });

  it('model() and health() are bodiless GETs without Content-Type, so browsers skip the CORS preflight', async () => {
    const fetch = fakeFetch(json(200, { name: 'iris-demo' }), json(200, { status: 'ok' }));
    const client = createClient({ baseUrl: 'http://api.test', fetch });

    assert.deepEqual(await client.model(), { name: 'iris-demo' });
    assert.deepEqual(await client.health(), { status: 'ok' });

    assert.deepEqual(
      fetch.calls.map((c) => [c.init.method, c.url, c.init.body, c.init.headers['Content-Type']]),
      [
        ['GET', 'http://api.test/model', undefined, undefined],
        ['GET', 'http://api.test/health', undefined, undefined],
      ],
    );
  });

  it('drops trailing slashes from the base URL and treats a missing one as same-origin', async () => {
    const fetch = fakeFetch(json(200, {}));
    await createClient({ baseUrl: 'https://x.execute-api.eu-west-1.amazonaws.com/prod//', fetch }).health();
    await createClient({ fetch }).health();
    await createClient({ baseUrl: '', fetch }).health();

    assert.deepEqual(
      fetch.calls.map((c) => c.url),
      ['https://x.execute-api.eu-west-1.amazonaws.com/prod/health', '/health', '/health'],
    );
  });

  it('passes extra headers (e.g. Authorization) on every request', async () => {
    const fetch = fakeFetch(json(200, {}));
    const client = createClient({ baseUrl: 'http://api.test', fetch, headers: { Authorization: 'Bearer t' } });

    await client.predict([1, 2, 3, 4]);
    await client.model();

    for (const call of fetch.calls) assert.equal(call.init.headers.Authorization, 'Bearer t');
  });

  it('refuses to build without a fetch implementation', () => {
    assert.throws(() => createClient({ fetch: {}, baseUrl: 'x' }), TypeError);
    assert.throws(() => createClient({ baseUrl: 42 }), TypeError);
  });
});

describe('errors', () => {
  it('turns the API JSON error body into an ApiError with status, error, detail and requestId', async () => {
    const detail = [{ loc: ['body', 'features'], msg: 'Expected 4 features, got 3', type: 'value_error' }];
    const fetch = fakeFetch(
      json(422, { error: 'Invalid request: expected 4 features.', detail, request_id: 'req-1' }, { 'x-request-id': 'req-1' }),
    );
    const client = createClient({ baseUrl: 'http://api.test', fetch });

    const error = await rejectsWith(client.predict([1, 2, 3]));

    assert.ok(error instanceof ApiError);
    assert.ok(error instanceof Error);
    assert.equal(error.name, 'ApiError');
    assert.equal(error.status, 422);
    assert.equal(error.kind, 'http');
    assert.equal(error.error, 'Invalid request: expected 4 features.');
    assert.equal(error.message, 'Invalid request: expected 4 features.');
    assert.deepEqual(error.detail, detail);
    assert.equal(error.requestId, 'req-1');
    assert.equal(error.url, 'http://api.test/predict');
  });

  it('falls back to the x-request-id header and to API Gateway "message" bodies', async () => {
    const fetch = fakeFetch(json(403, { message: 'Forbidden' }, { 'x-request-id': 'hdr-9' }));
    const error = await rejectsWith(createClient({ baseUrl: 'http://api.test', fetch }).model());

    assert.equal(error.status, 403);
    assert.equal(error.error, 'Forbidden');
    assert.equal(error.detail, null);
    assert.equal(error.requestId, 'hdr-9');
  });

  it('reports a non-JSON error body (proxy HTML) with the status line and a snippet', async () => {
    const html = '<html><body>' + 'x'.repeat(500) + '</body></html>';
    const fetch = fakeFetch(new Response(html, { status: 502, statusText: 'Bad Gateway' }));
    const error = await rejectsWith(createClient({ baseUrl: 'http://api.test', fetch }).health());

    assert.equal(error.status, 502);
    assert.equal(error.error, 'HTTP 502 Bad Gateway');
    assert.equal(error.detail, html.slice(0, 200));
    assert.equal(error.requestId, null);
  });

  it('reports a 2xx answer whose body is not JSON as invalid_response', async () => {
    const fetch = fakeFetch(new Response('ok', { status: 200 }));
    const error = await rejectsWith(createClient({ baseUrl: 'http://api.test', fetch }).health());

    assert.equal(error.kind, 'invalid_response');
    assert.equal(error.status, 200);
    assert.equal(error.detail, 'ok');
  });

  it('turns a failed fetch (server down or CORS block) into a status-0 network ApiError that names CORS', async () => {
    const cause = new TypeError('Failed to fetch');
    const fetch = fakeFetch(() => {
      throw cause;
    });
    const sleep = recordingSleep();
    const error = await rejectsWith(createClient({ baseUrl: 'http://api.test', fetch, sleep }).predict([1, 2, 3, 4]));

    assert.equal(error.status, 0);
    assert.equal(error.kind, 'network');
    assert.match(error.error, /CORS/);
    assert.match(error.error, /http:\/\/api\.test/);
    assert.equal(error.cause, cause);
    assert.equal(fetch.calls.length, 1, 'network failures are not retried');
    assert.deepEqual(sleep.delays, []);
  });
});

describe('retries', () => {
  it('retries 503 with exponential backoff, then succeeds', async () => {
    const fetch = fakeFetch(json(503, { error: 'Model not loaded.' }), json(503, { error: 'Model not loaded.' }), json(200, OK_BODY));
    const sleep = recordingSleep();
    const client = createClient({ baseUrl: 'http://api.test', fetch, sleep, backoffMs: 100, random: () => 1 });

    assert.deepEqual(await client.predict([1, 2, 3, 4]), OK_BODY);
    assert.equal(fetch.calls.length, 3);
    assert.deepEqual(sleep.delays, [100, 200]);
  });

  it('applies jitter between half and all of the exponential delay', async () => {
    const fetch = fakeFetch(json(429, { message: 'Too Many Requests' }), json(200, OK_BODY));
    const sleep = recordingSleep();
    const client = createClient({ baseUrl: 'http://api.test', fetch, sleep, backoffMs: 100, random: () => 0 });

    await client.health();
    assert.deepEqual(sleep.delays, [50]);
  });

  it('honours Retry-After (seconds), capped by maxBackoffMs', async () => {
    const fetch = fakeFetch(
      json(429, { message: 'Too Many Requests' }, { 'retry-after': '2' }),
      json(429, { message: 'Too Many Requests' }, { 'retry-after': '120' }),
      json(200, OK_BODY),
    );
    const sleep = recordingSleep();
    const client = createClient({ baseUrl: 'http://api.test', fetch, sleep, maxBackoffMs: 30_000 });

    await client.predict([1, 2, 3, 4]);
    assert.deepEqual(sleep.delays, [2000, 30_000]);
  });

  it('honours Retry-After given as an HTTP date', async () => {
    const when = new Date(Date.now() + 3_000).toUTCString();
    const fetch = fakeFetch(json(503, { error: 'busy' }, { 'retry-after': when }), json(200, OK_BODY));
    const sleep = recordingSleep();

    await createClient({ baseUrl: 'http://api.test', fetch, sleep }).health();
    assert.equal(sleep.delays.length, 1);
    assert.ok(sleep.delays[0] > 1_000 && sleep.delays[0] <= 3_000, `delay ${sleep.delays[0]}`);
  });

  it('gives up after `retries` extra attempts and throws the last error', async () => {
    const fetch = fakeFetch(json(429, { message: 'Too Many Requests' }));
    const sleep = recordingSleep();
    const client = createClient({ baseUrl: 'http://api.test', fetch, sleep, retries: 2 });

    const error = await rejectsWith(client.predict([1, 2, 3, 4]));
    assert.equal(error.status, 429);
    assert.equal(error.error, 'Too Many Requests');
    assert.equal(fetch.calls.length, 3);
    assert.equal(sleep.delays.length, 2);
  });

  for (const status of [400, 404, 413, 415, 422, 500, 502, 504]) {
    it(`does not retry ${status}`, async () => {
      const fetch = fakeFetch(json(status, { error: `status ${status}` }));
      const sleep = recordingSleep();
      const error = await rejectsWith(createClient({ baseUrl: 'http://api.test', fetch, sleep }).predict([1]));

      assert.equal(error.status, status);
      assert.equal(fetch.calls.length, 1);
      assert.deepEqual(sleep.delays, []);
    });
  }

  it('uses the real timer between retries when no sleep is injected', async () => {
    const fetch = fakeFetch(json(503, { error: 'busy' }), json(200, OK_BODY));
    const started = performance.now();

    await createClient({ baseUrl: 'http://api.test', fetch, backoffMs: 40, random: () => 1 }).health();
    assert.ok(performance.now() - started >= 35);
  });
});

describe('timeouts and cancellation', () => {
  /** A fetch that never answers but, like the real one, rejects when its signal aborts. */
  function hangingFetch() {
    return fakeFetch(
      (_url, init) =>
        new Promise((_resolve, reject) => {
          if (init.signal.aborted) reject(new DOMException('aborted', 'AbortError'));
          init.signal.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError')));
        }),
    );
  }

  it('aborts a request that takes longer than timeoutMs', async () => {
    const fetch = hangingFetch();
    const started = performance.now();
    const error = await rejectsWith(createClient({ baseUrl: 'http://api.test', fetch, timeoutMs: 50 }).model());
    const elapsed = performance.now() - started;

    assert.equal(error.kind, 'timeout');
    assert.equal(error.status, 0);
    assert.match(error.error, /50 ms/);
    assert.ok(elapsed >= 45 && elapsed < 1_000, `elapsed ${elapsed}`);
    assert.equal(fetch.calls[0].init.signal.aborted, true);
  });

  it("forwards the caller's AbortSignal", async () => {
    const fetch = hangingFetch();
    const controller = new AbortController();
    const pending = createClient({ baseUrl: 'http://api.test', fetch, timeoutMs: 5_000 }).predict([1], {
      signal: controller.signal,
    });
    controller.abort();

    const error = await rejectsWith(pending);
    assert.equal(error.kind, 'aborted');
    assert.equal(error.status, 0);
  });

  it('does not start a request when the signal is already aborted', async () => {
    const fetch = hangingFetch();
    const error = await rejectsWith(
      createClient({ baseUrl: 'http://api.test', fetch }).health({ signal: AbortSignal.abort() }),
    );
    assert.equal(error.kind, 'aborted');
    assert.equal(fetch.calls.length, 0);
  });

  it('stops waiting between retries when cancelled', async () => {
    const fetch = fakeFetch(json(503, { error: 'busy' }));
    const controller = new AbortController();
    const pending = createClient({ baseUrl: 'http://api.test', fetch, backoffMs: 10_000, random: () => 1 }).health({
      signal: controller.signal,
    });
    setTimeout(() => controller.abort(), 20);

    const started = performance.now();
    const error = await rejectsWith(pending);
    assert.equal(error.kind, 'aborted');
    assert.ok(performance.now() - started < 2_000);
    assert.equal(fetch.calls.length, 1);
  });
});

describe('classLabel', () => {
  const manifest = { classes: [0, 1, 2], class_names: ['setosa', 'versicolor', 'virginica'] };

  it('maps a label (number or its string key) to its display name', () => {
    assert.equal(classLabel(manifest, 2), 'virginica');
    assert.equal(classLabel(manifest, '1'), 'versicolor');
  });

  it('falls back to the label itself', () => {
    assert.equal(classLabel({ classes: [0, 1] }, 1), '1');
    assert.equal(classLabel(manifest, 7), '7');
    assert.equal(classLabel(null, 'cat'), 'cat');
  });
});

describe('type declarations', () => {
  it('declare exactly the values the module exports', async () => {
    const { readFile } = await import('node:fs/promises');
    const declarations = await readFile(new URL('../index.d.ts', import.meta.url), 'utf8');
    const declared = [...declarations.matchAll(/^export (?:declare )?(?:class|function|const) (\w+)/gm)].map((m) => m[1]);
    const runtime = Object.keys(await import('../index.js'));
    assert.deepEqual(declared.sort(), runtime.sort());
  });
});

describe('predictionText', () => {
  it('names the class of a classifier by its class_names', () => {
    const manifest = { task: 'classification', classes: [0, 1], class_names: ['no', 'yes'] };
    assert.equal(predictionText(manifest, 1), 'yes');
  });

  it('says what a cluster, an outlier and a regression value are', () => {
    assert.equal(predictionText({ task: 'clustering' }, 2), 'cluster 2');
    assert.equal(predictionText({ task: 'outlier_detection' }, -1), 'outlier');
    assert.equal(predictionText({ task: 'outlier_detection' }, 1), 'inlier');
    assert.equal(predictionText({ task: 'regression' }, 1.25), '1.25');
  });

  it('names each output of a multi-output model', () => {
    const manifest = { task: 'multioutput_regression', outputs: ['Weight', 'Waist'] };
    assert.equal(predictionText(manifest, [180.5, 35]), 'Weight: 180.5, Waist: 35');
    assert.equal(predictionText({ task: 'multioutput_classification' }, ['a', 'b']), 'output 0: a, output 1: b');
  });
});
