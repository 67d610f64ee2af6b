import { useCallback, useEffect, useState } from 'react';

import { classLabel, predictionText } from '@sklambda/client';

import {
  categoryOptions,
  controlKind,
  detailLines,
  errorTitle,
  featureSpecs,
  formatPercent,
  initialValues,
  probabilityCharts,
  toRow,
} from './logic.js';

function ErrorPanel({ error, onRetry }) {
  const lines = detailLines(error.detail);
  return (
    <section className="error" role="alert" data-testid="error" data-kind={error.kind ?? 'unknown'}>
      <h2>{errorTitle(error)}</h2>
      <p data-testid="error-message">{error.error ?? error.message}</p>
      {lines ? (
        <ul>
          {lines.map((line, i) => (
            <li key={i}>{line}</li>
          ))}
        </ul>
      ) : error.detail != null ? (
        <pre>{typeof error.detail === 'string' ? error.detail : JSON.stringify(error.detail, null, 2)}</pre>
      ) : null}
      {error.requestId ? (
        <p className="muted">
          Request id: <code data-testid="request-id">{error.requestId}</code>
        </p>
      ) : null}
      {onRetry ? (
        <button type="button" onClick={onRetry}>
          Retry
        </button>
      ) : null}
    </section>
  );
}

function ProbabilityChart({ title, bars }) {
  const label = title ? `Class probabilities of ${title}` : 'Class probabilities';
  return (
    <ul className="bars" aria-label={label} data-testid="probabilities">
      {bars.map((bar) => (
        <li
          key={bar.key}
          className={bar.predicted ? 'bar predicted' : 'bar'}
          data-testid="probability-bar"
          data-class={bar.key}
          data-probability={bar.probability}
        >
          <span className="bar-label">{bar.name}</span>
          <span className="bar-track">
            <span className="bar-fill" style={{ width: formatPercent(bar.probability) }} />
          </span>
          <span className="bar-value">{formatPercent(bar.probability)}</span>
        </li>
      ))}
    </ul>
  );
}

function Result({ manifest, result }) {
  const predicted = result.prediction[0];
  const isClassifier = manifest.task === 'classification';
  const name = isClassifier ? classLabel(manifest, predicted) : predictionText(manifest, predicted);
  const charts = probabilityCharts(manifest, result.probabilities?.[0], predicted);
  return (
    <section className="result" data-testid="result" aria-live="polite">
      <h2>Prediction</h2>
      <p className="predicted-text">
        <strong data-testid="predicted-label">{name}</strong>
        {isClassifier && name !== String(predicted) ? <span className="muted"> (class {String(predicted)})</span> : null}
      </p>
      {charts.map((chart) =>
        chart.bars.length ? (
          <div key={chart.title ?? 'classes'}>
            {chart.title ? <h3>{chart.title}</h3> : null}
            <ProbabilityChart title={chart.title} bars={chart.bars} />
          </div>
        ) : null,
      )}
      <p className="muted" data-testid="result-model">
        Answered by {result.model_name} v{result.model_version}
      </p>
    </section>
  );
}

export default function App({ client, apiUrl }) {
  const [manifest, setManifest] = useState(null);
  const [loadError, setLoadError] = useState(null);
  const [values, setValues] = useState([]);
  const [pending, setPending] = useState(false);
  const [result, setResult] = useState(null);
  const [predictError, setPredictError] = useState(null);

  const loadModel = useCallback(
    (signal) => {
      setLoadError(null);
      client
        .model({ signal })
        .then((m) => {
          setManifest(m);
          setValues(initialValues(m));
        })
        .catch((error) => {
          if (error.kind !== 'aborted') setLoadError(error);
        });
    },
    [client],
  );

  useEffect(() => {
    const controller = new AbortController();
    loadModel(controller.signal);
    return () => controller.abort();
  }, [loadModel]);

  async function onSubmit(event) {
    event.preventDefault();
    setPending(true);
    setPredictError(null);
    try {
      const answer = await client.predict(toRow(manifest, values), {
        returnProbabilities: Boolean(manifest.has_predict_proba),
      });
      setResult(answer);
    } catch (error) {
      setResult(null);
      setPredictError(error);
    } finally {
      setPending(false);
    }
  }

  function setValue(index, value) {
    setValues((old) => old.map((v, i) => (i === index ? value : v)));
  }

  return (
    <main>
      <header>
        <h1>sklambda prediction demo</h1>
        <p className="muted">
          API: <code data-testid="api-url">{apiUrl}</code>
        </p>
      </header>

      {loadError ? <ErrorPanel error={loadError} onRetry={() => loadModel()} /> : null}
      {!manifest && !loadError ? <p data-testid="loading">Loading the model description…</p> : null}

      {manifest ? (
        <>
          <p className="model" data-testid="model-info">
            Model <strong>{manifest.name}</strong> version <strong data-testid="model-version">{manifest.version}</strong>{' '}
            <span className="muted">({manifest.task})</span>
          </p>
          <form onSubmit={onSubmit} noValidate data-testid="prediction-form">
            {featureSpecs(manifest).map((spec, i) => (
              <label key={spec.name}>
                <span>{spec.name}</span>
                {controlKind(spec) === 'select' ? (
                  <select name={spec.name} value={values[i] ?? ''} onChange={(e) => setValue(i, e.target.value)}>
                    {categoryOptions(spec).map((option) => (
                      <option key={option.value} value={option.value}>
                        {option.label}
                      </option>
                    ))}
                  </select>
                ) : controlKind(spec) === 'textarea' ? (
                  <textarea
                    name={spec.name}
                    rows={4}
                    value={values[i] ?? ''}
                    onChange={(e) => setValue(i, e.target.value)}
                  />
                ) : (
                  <input
                    name={spec.name}
                    type="number"
                    step="any"
                    inputMode="decimal"
                    placeholder={spec.nullable ? 'empty: missing' : undefined}
                    value={values[i] ?? ''}
                    onChange={(e) => setValue(i, e.target.value)}
                  />
                )}
              </label>
            ))}
            <div className="actions">
              <button type="submit" disabled={pending}>
                {pending ? 'Predicting…' : 'Predict'}
              </button>
              <button type="button" className="secondary" onClick={() => setValues(initialValues(manifest))}>
                Reset to example
              </button>
            </div>
          </form>
          {predictError ? <ErrorPanel error={predictError} /> : null}
          {result ? <Result manifest={manifest} result={result} /> : null}
        </>
      ) : null}
    </main>
  );
}
