'use strict';
/**
 * Egress guard for tests, tools and every process they start.
 *
 * Refuses, before any packet leaves, every outgoing TCP/TLS connection, UDP send and DNS lookup whose
 * target is not loopback (127.0.0.0/8, ::1, `localhost`) or a unix socket. The refused call throws an
 * error with code `EGRESS_BLOCKED` naming the address, the attempt is written to stderr, kept in memory
 * for the test runner (see `takeViolations`), and appended to the file named by `TAKT_EGRESS_LOG` so
 * that a parent test can fail when one of its child processes tried.
 *
 * Load it with `node --require <this file>`; `test/support/src/vitest-setup.ts` loads it in every test
 * worker and puts it into `NODE_OPTIONS` so that child processes get it too.
 *
 * Plain CommonJS on purpose: `--require` runs it before any loader, TypeScript or ESM hook exists.
 */
const net = require('node:net');
const dns = require('node:dns');
const dgram = require('node:dgram');
const fs = require('node:fs');

const GUARD = Symbol.for('takt.egressGuard');

function isLoopbackHost(host) {
  if (typeof host !== 'string' || host.length === 0) return true; // Node's default host is localhost
  let h = host.toLowerCase();
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  if (h === '::1' || h === '0:0:0:0:0:0:0:1') return true;
  if (h.startsWith('::ffff:')) h = h.slice('::ffff:'.length);
  if (net.isIPv4(h)) return h.split('.')[0] === '127';
  return false;
}

function install() {
  if (globalThis[GUARD]) return globalThis[GUARD];
  const violations = [];
  const logFile = process.env.TAKT_EGRESS_LOG;

  function refuse(kind, target) {
    const message =
      `EGRESS_BLOCKED: ${kind} to ${target} refused by the egress guard. ` +
      'Tests, tools and emulators may only reach loopback (127.0.0.0/8, ::1, localhost); ' +
      'point the client at a local emulator or switch the feature off.';
    const err = new Error(message);
    err.code = 'EGRESS_BLOCKED';
    err.address = target;
    const entry = { kind, target, pid: process.pid, at: new Date().toISOString(), stack: err.stack };
    violations.push(entry);
    try {
      process.stderr.write(`${message}\n`);
    } catch {
      // stderr closed: the in-memory record and the log file still carry it
    }
    if (logFile) {
      try {
        fs.appendFileSync(logFile, `${JSON.stringify(entry)}\n`);
      } catch {
        // the log folder is gone (test cleaned up): the in-memory record still fails the test
      }
    }
    return err;
  }

  function targetOfConnectArgs(args) {
    // net.connect() passes the normalized argument array as args[0]; user code may pass
    // (options[, cb]), (path[, cb]) or (port[, host][, cb]).
    let first = args[0];
    let second = args[1];
    if (Array.isArray(first)) {
      second = first[1];
      first = first[0];
    }
    if (first !== null && typeof first === 'object') {
      if (typeof first.path === 'string' && first.path.length > 0) return null; // unix socket
      return { host: first.host ?? first.hostname ?? 'localhost', port: first.port };
    }
    if (typeof first === 'string' && !/^\d+$/.test(first)) return null; // unix socket path
    return { host: typeof second === 'string' ? second : 'localhost', port: first };
  }

  const originalConnect = net.Socket.prototype.connect;
  net.Socket.prototype.connect = function guardedConnect(...args) {
    const target = targetOfConnectArgs(args);
    if (target && !isLoopbackHost(String(target.host))) {
      throw refuse('connection', `${target.host}:${target.port}`);
    }
    return originalConnect.apply(this, args);
  };

  const originalSend = dgram.Socket.prototype.send;
  dgram.Socket.prototype.send = function guardedSend(...args) {
    // (msg[, offset, length][, port][, address][, callback]): the address is the last string argument
    const address = args.filter((a) => typeof a === 'string').pop();
    if (address !== undefined && !isLoopbackHost(address)) throw refuse('UDP datagram', address);
    return originalSend.apply(this, args);
  };
  const originalUdpConnect = dgram.Socket.prototype.connect;
  dgram.Socket.prototype.connect = function guardedUdpConnect(port, address, ...rest) {
    if (typeof address === 'string' && !isLoopbackHost(address)) throw refuse('UDP connect', `${address}:${port}`);
    return originalUdpConnect.call(this, port, address, ...rest);
  };

  const guardLookup = (name, original) =>
    function guardedLookup(hostname, ...rest) {
      // An IP literal resolves locally without a packet (servers look up '0.0.0.0' or '::' to bind);
      // connections to it are still checked above.
      const literal = name === 'lookup' && net.isIP(String(hostname)) !== 0;
      if (!literal && !isLoopbackHost(String(hostname))) throw refuse(`DNS ${name}`, String(hostname));
      return original.call(this, hostname, ...rest);
    };
  const resolverMethods = [
    'lookup',
    'resolve',
    'resolve4',
    'resolve6',
    'resolveAny',
    'resolveCname',
    'resolveCaa',
    'resolveMx',
    'resolveNaptr',
    'resolveNs',
    'resolvePtr',
    'resolveSoa',
    'resolveSrv',
    'resolveTxt',
    'reverse',
  ];
  for (const target of [dns, dns.promises, dns.Resolver.prototype, dns.promises.Resolver.prototype]) {
    for (const name of resolverMethods) {
      if (typeof target[name] === 'function') target[name] = guardLookup(name, target[name]);
    }
  }

  const api = {
    isLoopbackHost,
    /** Returns and forgets the attempts recorded in this process since the last call. */
    takeViolations() {
      return violations.splice(0, violations.length);
    },
  };
  Object.defineProperty(globalThis, GUARD, { value: api, enumerable: false });
  return api;
}

module.exports = install();
