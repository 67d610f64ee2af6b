// Compile-only checks of index.d.ts (`npm run typecheck`): how a TypeScript/React app uses the client.
// Lines marked @ts-expect-error must fail to type-check; if the declarations loosen, tsc reports them as unused.
import { ApiError, classLabel, createClient } from '@sklambda/client';
import { predictionText } from '@sklambda/client';
import type { FeatureSpec, Label, ModelManifest, PredictResponse, Prediction, TaskKind } from '@sklambda/client';

const client = createClient({ baseUrl: 'http://127.0.0.1:3000', timeoutMs: 5_000, retries: 1 });

export async function usage(): Promise<string> {
  const manifest: ModelManifest = await client.model();
  const single: PredictResponse = await client.predict([5.1, 3.5, 1.4, 0.2], { returnProbabilities: true });
  await client.predict({ sepal_length: 5.1, sepal_width: 3.5, petal_length: 1.4, petal_width: 0.2 });
  const batch = await client.predictBatch([manifest.example ?? []]);
  const health = await client.health({ signal: AbortSignal.timeout(1_000) });
  const row = single.probabilities?.[0];
  const probability: number | undefined = row && !Array.isArray(row) ? row['0'] : undefined;
  const first = batch.predictions[0];
  try {
    await client.predict([1]);
  } catch (error) {
    if (error instanceof ApiError) {
      const status: number = error.status;
      const requestId: string | null = error.requestId;
      return `${status} ${error.error} ${String(error.detail)} ${requestId} ${error.kind}`;
    }
  }
  const predicted: Prediction | undefined = single.prediction[0];
  const label = predicted === undefined || Array.isArray(predicted) ? '' : classLabel(manifest, predicted);
  const words = predicted === undefined ? '' : predictionText(manifest, predicted);
  return `${label} ${words} ${health.status} ${probability} ${String(first)}`;
}

export const text: FeatureSpec = { name: 'review', type: 'text' };
export const nullableCategory: FeatureSpec = {
  name: 'city',
  type: 'category',
  categories: ['Paris', 'Lyon'],
  accepts_unknown: true,
  nullable: true,
};
export const tasks: TaskKind[] = ['clustering', 'outlier_detection', 'multioutput_regression'];
// A multi-output row: one value per output.
export const multi: Promise<Label[]> = client.predict([1.5, null, 'Paris']).then((answer) => answer.prediction[0] as Label[]);
// @ts-expect-error a feature type the API does not have
export const date: FeatureSpec = { name: 'when', type: 'date' };
// @ts-expect-error a task the API does not have
export const ranking: TaskKind = 'ranking';

// @ts-expect-error baseUrl must be a string
createClient({ baseUrl: 3000 });
// @ts-expect-error predict needs a row
void client.predict();
// @ts-expect-error ApiError.status is a number, not a string
export const wrong: string = new ApiError({ status: 500, error: 'x' }).status;
