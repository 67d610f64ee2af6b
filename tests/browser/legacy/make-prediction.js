// The seed project's client, kept byte-for-byte: the browser tests prove it still works against the API.
async function makePrediction(features) {
  const response = await fetch(API_URL + '/predict', {method: 'POST', headers: {'Content-Type': 'application/json'},
    body: JSON.stringify({features})});
  if (!response.ok) { const errorData = await response.json(); throw new Error(errorData.error || 'Prediction failed'); }
  return await response.json();
}
