// server.js -- entry point: `node --expose-gc server.js` (PORT, WORKERS, LEAKS, ... in the env).
// Selects the frameworks' production builds unless NODE_ENV says otherwise, then loads the app.
process.env.NODE_ENV ||= 'production';
await import('./app.js');
