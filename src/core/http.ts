import type * as NodeHttp from 'node:http';

/**
 * node:http for every value the daemon takes from it (createServer, request). Importing it as an
 * ES module builds its namespace, which reads every export: on Node 22 and later that includes the
 * lazy WebSocket/CloseEvent/MessageEvent getters, whose first read loads Node's fetch (undici), some
 * 17 MB of RSS the daemon never uses and holds for good (bench/memory.ts, packaged Node 24 runtime).
 * The module object itself has no such side effect. Types may still be imported from 'node:http'.
 */
export const http = process.getBuiltinModule('node:http') as typeof NodeHttp;
