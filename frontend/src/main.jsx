import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';

import { createClient } from '@sklambda/client';

import App from './App.jsx';
import { resolveApiUrl } from './logic.js';
import './styles.css';

const apiUrl = resolveApiUrl(window.location.search, import.meta.env.VITE_API_URL);
const client = createClient({ baseUrl: apiUrl, timeoutMs: 10_000 });

createRoot(document.getElementById('root')).render(
  <StrictMode>
    <App client={client} apiUrl={apiUrl} />
  </StrictMode>,
);
