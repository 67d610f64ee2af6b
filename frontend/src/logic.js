// Pure helpers for the demo page, kept out of the React components so node's test runner can cover them.

/** Where the built page listens to when nothing else is said: `sklambda serve` / `make serve`. */
export const FALLBACK_API_URL = 'http://127.0.0.1:3000';

/**
 * The API base URL: `?api=` (runtime, lets one build target any API) beats VITE_API_URL (build time).
 * Only http(s) URLs are accepted from the query string so a crafted link cannot inject another scheme.
 */
export function resolveApiUrl(search, envUrl) {
  const fromQuery = new URLSearchParams(search ?? '').get('api');
  if (fromQuery) {
    try {
      const url = new URL(fromQuery);
      if (url.protocol === 'http:' || url.protocol === 'https:') return fromQuery.replace(/\/+$/, '');
    } catch {
      // Fall through to the build-time URL: a broken ?api= should not leave the page without an API.
    }
  }
  return (envUrl || FALLBACK_API_URL).replace(/\/+$/, '');
}

/** Feature specs in order, tolerating manifests that only list feature_names. */
export function featureSpecs(manifest) {
  if (Array.isArray(manifest.features) && manifest.features.length > 0) return manifest.features;
  return (manifest.feature_names ?? []).map((name) => ({ name, type: 'number' }));
}

/** Form state (strings, as inputs hold them) prefilled from the manifest's example row. */
export function initialValues(manifest) {
  const example = manifest.example ?? [];
  return featureSpecs(manifest).map((spec, i) => {
    if (example[i] !== undefined && example[i] !== null) return String(example[i]);
    return spec.type === 'category' && spec.categories?.length ? String(spec.categories[0]) : '';
  });
}

/** The form control a feature gets: a select for a category, a textarea for a text, else a number input. */
export function controlKind(spec) {
  if (spec.type === 'category') return 'select';
  if (spec.type === 'text') return 'textarea';
  return 'number';
}

/** The options of a category's select: its known values, after an empty one ("missing") when it is nullable. */
export function categoryOptions(spec) {
  const known = (spec.categories ?? []).map((c) => ({ value: String(c), label: String(c) }));
  return spec.nullable ? [{ value: '', label: '(missing)' }, ...known] : known;
}

/**
 * Form strings -> a positional row. Numbers are parsed; an empty or unparsable number becomes null so the
 * API's own validation, not a second copy of it here, produces the error message the user sees (null is a value
 * for a nullable feature, "required" for any other). A text is sent as typed; an empty category is null.
 */
export function toRow(manifest, values) {
  return featureSpecs(manifest).map((spec, i) => {
    if (spec.type === 'text') return values[i] ?? '';
    const raw = (values[i] ?? '').trim();
    if (spec.type === 'category') {
      if (raw === '') return null;
      const match = (spec.categories ?? []).find((c) => String(c) === raw);
      return match !== undefined ? match : raw;
    }
    if (raw === '') return null;
    const n = Number(raw);
    return Number.isFinite(n) ? n : null;
  });
}

/**
 * The probability charts of one answer row: one for a classifier, one per output for multi-output
 * classification (each titled with its output's name and ordered by that output's classes).
 */
export function probabilityCharts(manifest, probabilities, predicted) {
  if (!probabilities) return [];
  if (!Array.isArray(probabilities)) {
    return [{ title: null, bars: probabilityBars(manifest, probabilities, predicted) }];
  }
  const outputs = manifest.outputs ?? [];
  return probabilities.map((perClass, i) => ({
    title: outputs[i] ?? `output ${i}`,
    bars: probabilityBars(
      { classes: manifest.classes?.[i] ?? [] },
      perClass,
      Array.isArray(predicted) ? predicted[i] : undefined,
    ),
  }));
}

/** Bars for the chart, in the manifest's class order, with display names; unknown extra keys go last. */
export function probabilityBars(manifest, probabilities, predicted) {
  if (!probabilities) return [];
  const classes = (manifest.classes ?? []).map(String);
  const names = manifest.class_names ?? [];
  const keys = [...classes.filter((c) => c in probabilities), ...Object.keys(probabilities).filter((k) => !classes.includes(k))];
  return keys.map((key) => {
    const index = classes.indexOf(key);
    const name = index >= 0 && names[index] != null ? String(names[index]) : key;
    return { key, name, probability: probabilities[key], predicted: key === String(predicted) };
  });
}

export function formatPercent(p) {
  return `${(p * 100).toFixed(1)}%`;
}

/** One line per validation problem for a FastAPI/pydantic-style detail list; null when detail is not that shape. */
export function detailLines(detail) {
  if (!Array.isArray(detail)) return null;
  const lines = detail.map((item) => {
    if (item && typeof item === 'object' && 'msg' in item) {
      const loc = Array.isArray(item.loc) ? item.loc.filter((part) => part !== 'body').join(' → ') : '';
      return loc ? `${loc}: ${item.msg}` : String(item.msg);
    }
    return typeof item === 'string' ? item : JSON.stringify(item);
  });
  return lines.length ? lines : null;
}

/** Heading for an ApiError (or anything thrown) that tells the reader what kind of failure it was. */
export function errorTitle(error) {
  switch (error?.kind) {
    case 'network':
      return 'Network or CORS error: the browser could not read the API response';
    case 'timeout':
      return 'The API timed out';
    case 'aborted':
      return 'Request cancelled';
    case 'invalid_response':
      return `Unexpected response (HTTP ${error.status})`;
    case 'http':
      return `The API rejected the request (HTTP ${error.status})`;
    default:
      return 'Something went wrong';
  }
}
