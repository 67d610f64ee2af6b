import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
  categoryOptions,
  controlKind,
  detailLines,
  errorTitle,
  FALLBACK_API_URL,
  featureSpecs,
  formatPercent,
  initialValues,
  probabilityBars,
  probabilityCharts,
  resolveApiUrl,
  toRow,
} from '../src/logic.js';

const IRIS = {
  feature_names: ['sepal_length', 'sepal_width', 'petal_length', 'petal_width'],
  features: [
    { name: 'sepal_length', type: 'number' },
    { name: 'sepal_width', type: 'number' },
    { name: 'petal_length', type: 'number' },
    { name: 'petal_width', type: 'number' },
  ],
  classes: [0, 1, 2],
  class_names: ['setosa', 'versicolor', 'virginica'],
  example: [5.1, 3.5, 1.4, 0.2],
};

describe('resolveApiUrl', () => {
  it('prefers ?api= over the build-time URL and drops trailing slashes', () => {
    assert.equal(resolveApiUrl('?api=http://127.0.0.1:4001/', 'http://build.example'), 'http://127.0.0.1:4001');
  });

  it('uses VITE_API_URL, then the make-serve default', () => {
    assert.equal(resolveApiUrl('', 'https://api.example.com/prod/'), 'https://api.example.com/prod');
    assert.equal(resolveApiUrl('?other=1', undefined), FALLBACK_API_URL);
  });

  it('ignores a non-http(s) or malformed ?api=', () => {
    assert.equal(resolveApiUrl('?api=javascript:alert(1)', 'http://b'), 'http://b');
    assert.equal(resolveApiUrl('?api=not a url', 'http://b'), 'http://b');
  });
});

describe('form helpers', () => {
  it('prefills from the example row and parses back to numbers', () => {
    const values = initialValues(IRIS);
    assert.deepEqual(values, ['5.1', '3.5', '1.4', '0.2']);
    assert.deepEqual(toRow(IRIS, values), [5.1, 3.5, 1.4, 0.2]);
  });

  it('sends null for empty or non-numeric input so the API reports it', () => {
    assert.deepEqual(toRow(IRIS, ['', ' 2 ', 'abc', '1e3']), [null, 2, null, 1000]);
  });

  it('handles category features and manifests without a features list', () => {
    const manifest = {
      features: [
        { name: 'colour', type: 'category', categories: ['red', 'blue'] },
        { name: 'size', type: 'category', categories: [1, 2] },
      ],
      example: null,
    };
    assert.deepEqual(initialValues(manifest), ['red', '1']);
    assert.deepEqual(toRow(manifest, ['blue', '2']), ['blue', 2]);
    assert.deepEqual(featureSpecs({ feature_names: ['a'] }), [{ name: 'a', type: 'number' }]);
  });
});

describe('probabilityBars', () => {
  it('orders bars by class, names them and marks the predicted one', () => {
    const bars = probabilityBars(IRIS, { 2: 0.1, 0: 0.85, 1: 0.05 }, 0);
    assert.deepEqual(
      bars.map((b) => [b.key, b.name, b.probability, b.predicted]),
      [
        ['0', 'setosa', 0.85, true],
        ['1', 'versicolor', 0.05, false],
        ['2', 'virginica', 0.1, false],
      ],
    );
  });

  it('keeps keys the manifest does not know, and is empty without probabilities', () => {
    assert.deepEqual(
      probabilityBars({ classes: [] }, { yes: 0.4, no: 0.6 }, 'no').map((b) => [b.name, b.predicted]),
      [
        ['yes', false],
        ['no', true],
      ],
    );
    assert.deepEqual(probabilityBars(IRIS, undefined, 0), []);
  });

  it('formats percentages', () => {
    assert.equal(formatPercent(0.9734), '97.3%');
  });
});

describe('error presentation', () => {
  it('turns a validation detail list into readable lines', () => {
    const detail = [
      { loc: ['body', 'features', 2], msg: 'Input should be a valid number', type: 'float_type' },
      { msg: 'Expected 4 features' },
      'plain',
    ];
    assert.deepEqual(detailLines(detail), ['features → 2: Input should be a valid number', 'Expected 4 features', 'plain']);
    assert.equal(detailLines({ reason: 'x' }), null);
    assert.equal(detailLines([]), null);
  });

  it('titles errors by kind', () => {
    assert.match(errorTitle({ kind: 'network', status: 0 }), /CORS/);
    assert.match(errorTitle({ kind: 'http', status: 422 }), /HTTP 422/);
    assert.match(errorTitle({ kind: 'timeout' }), /timed out/);
    assert.equal(errorTitle(new Error('x')), 'Something went wrong');
  });
});

const TYPED = {
  task: 'classification',
  features: [
    { name: 'age', type: 'number', nullable: true },
    { name: 'city', type: 'category', categories: ['Paris', 'Lyon'], nullable: true },
    { name: 'grade', type: 'category', categories: [1, 2] },
    { name: 'review', type: 'text' },
  ],
  classes: ['no', 'yes'],
  example: [null, 'Lyon', 2, 'fine  '],
};

describe('feature types', () => {
  it('gives each type its control', () => {
    assert.deepEqual(TYPED.features.map(controlKind), ['number', 'select', 'select', 'textarea']);
  });

  it('offers an empty choice only for a nullable category', () => {
    assert.deepEqual(
      categoryOptions(TYPED.features[1]).map((option) => option.value),
      ['', 'Paris', 'Lyon'],
    );
    assert.deepEqual(
      categoryOptions(TYPED.features[2]).map((option) => option.value),
      ['1', '2'],
    );
  });

  it('sends null for empty nullable values, categories as fitted and text as typed', () => {
    const values = initialValues(TYPED);
    assert.deepEqual(values, ['', 'Lyon', '2', 'fine  ']);
    assert.deepEqual(toRow(TYPED, values), [null, 'Lyon', 2, 'fine  ']);
    assert.deepEqual(toRow(TYPED, ['3', '', '1', '']), [3, null, 1, '']);
  });
});

describe('probabilityCharts', () => {
  it('draws one chart for a classifier', () => {
    const [chart] = probabilityCharts(TYPED, { no: 0.25, yes: 0.75 }, 'yes');
    assert.equal(chart.title, null);
    assert.deepEqual(
      chart.bars.map((bar) => [bar.key, bar.predicted]),
      [
        ['no', false],
        ['yes', true],
      ],
    );
  });

  it('draws one chart per output of a multi-output classifier', () => {
    const manifest = {
      task: 'multioutput_classification',
      outputs: ['survived', 'class'],
      classes: [
        ['0', '1'],
        ['first', 'other'],
      ],
    };
    const charts = probabilityCharts(manifest, [{ 0: 0.9, 1: 0.1 }, { first: 0.2, other: 0.8 }], ['0', 'other']);
    assert.deepEqual(
      charts.map((chart) => [chart.title, chart.bars.filter((bar) => bar.predicted).map((bar) => bar.key)]),
      [
        ['survived', ['0']],
        ['class', ['other']],
      ],
    );
  });

  it('draws nothing without probabilities', () => {
    assert.deepEqual(probabilityCharts(TYPED, undefined, 'yes'), []);
  });
});
