export { freePort } from '../../src/core/net.js';
