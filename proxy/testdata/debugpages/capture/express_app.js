// Captures the page Express sends for an error thrown in a route, with its
// default error handler (finalhandler). NODE_ENV unset means development:
// the stack is in the page. Usage: node app.js
const express = require('express');
const app = express();
app.get('/boom', (req, res) => {
  throw new Error('boom');
});
const server = app.listen(0, '127.0.0.1', () => {
  console.log(server.address().port);
});
