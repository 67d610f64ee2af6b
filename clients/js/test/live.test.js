// Tests against a real `sklambda serve`. The pytest side (tests/browser/test_js_client_live.py) starts the server
// and sets SKLAMBDA_API_URL; without it these tests are skipped, so `npm test` stays offline.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';

import { ApiError, classLabel, createClient } from '../index.js';

const baseUrl = process.env.SKLAMBDA_API_URL;
const skip = baseUrl ? false : 'SKLAMBDA_API_URL is not set (pytest tests/browser/test_js_client_live.py sets it)';

describe('live API', { skip }, () => {
  const client = createClient({ baseUrl, timeoutMs: 10_000 });
  let manifest;

  before(async () => {
    manifest = await client.model();
  });

  it('health() reports ok for the served model', async () => {
    const health = await client.health();
    assert.equal(health.status, 'ok');
    assert.equal(health.model_name, manifest.name);
    assert.equal(health.model_version, manifest.version);
  });

  it('model() describes the features and gives an example row in feature order', () => {
    assert.ok(manifest.feature_names.length > 0);
    assert.equal(manifest.n_features, manifest.feature_names.length);
    assert.deepEqual(
      manifest.features.map((f) => f.name),
      manifest.feature_names,
    );
    assert.equal(manifest.example.length, manifest.n_features);
  });

  it('predict() of the example row returns a known class and probabilities that sum to 1', async () => {
    const result = await client.predict(manifest.example, { returnProbabilities: manifest.has_predict_proba });
    assert.equal(result.model_name, manifest.name);
    assert.equal(result.model_version, manifest.version);
    assert.equal(result.prediction.length, 1);
    if (manifest.task === 'classification') {
      assert.ok(manifest.classes.map(String).includes(String(result.prediction[0])));
      assert.notEqual(classLabel(manifest, result.prediction[0]), '');
    }
    if (manifest.has_predict_proba) {
      const [probs] = result.probabilities;
      assert.deepEqual(Object.keys(probs).sort(), manifest.classes.map(String).sort());
      const total = Object.values(probs).reduce((a, b) => a + b, 0);
      assert.ok(Math.abs(total - 1) < 1e-6, `probabilities sum to ${total}`);
    }
  });

  it('named features give the same answer as the positional row', async () => {
    const named = Object.fromEntries(manifest.feature_names.map((name, i) => [name, manifest.example[i]]));
    const [positional, byName] = await Promise.all([client.predict(manifest.example), client.predict(named)]);
    assert.deepEqual(byName.prediction, positional.prediction);
  });

  it('predictBatch() agrees with one-by-one predictions', async () => {
    const rows = [manifest.example, manifest.example.map((v) => (typeof v === 'number' ? v * 1.5 : v))];
    const batch = await client.predictBatch(rows);
    const singles = await Promise.all(rows.map((row) => client.predict(row)));
    assert.deepEqual(
      batch.predictions,
      singles.map((s) => s.prediction[0]),
    );
  });

  it('a row of the wrong length is a 422 ApiError with a readable message and a request id', async () => {
    const error = await client.predict(manifest.example.slice(1)).then(
      () => assert.fail('expected a 422'),
      (e) => e,
    );
    assert.ok(error instanceof ApiError);
    assert.equal(error.status, 422);
    assert.equal(error.kind, 'http');
    assert.ok(error.error.length > 0);
    assert.ok(error.requestId, 'request id from the body or the x-request-id header');
  });

  it('an unreachable server is a network ApiError, not an unhandled TypeError', async () => {
    // Port 9 (discard) on loopback is closed on any sane test machine: connection refused at once.
    const dead = createClient({ baseUrl: 'http://127.0.0.1:9', timeoutMs: 5_000 });
    const error = await dead.health().then(
      () => assert.fail('expected a network error'),
      (e) => e,
    );
    assert.equal(error.kind, 'network');
    assert.equal(error.status, 0);
  });
});
